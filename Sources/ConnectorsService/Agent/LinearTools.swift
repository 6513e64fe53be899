import Foundation
import MCP

/// Linear through its GraphQL API (`LINEAR_API_URL/graphql`). GraphQL answers errors with HTTP
/// 200 and an `errors` array; those are tool failures too.
enum LinearTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "linear_search_issues", provider: .linear,
            description: "Search Linear issues by text. Returns identifier, title, state, assignee and URL of each match.",
            inputSchema: Schema.object([
                "query": Schema.string("Words to search for in titles and descriptions."),
                "limit": Schema.integer("How many results (1–50, default 10)."),
            ], required: ["query"])
        ) { input, access in
            let data = try await graphQL(access, """
                query($term: String!, $first: Int) { searchIssues(term: $term, first: $first) { nodes {
                  id identifier title url state { name } assignee { name } team { key } } } }
                """, ["term": try input.string("query"), "first": try input.int("limit", default: 10, range: 1...50)])
            return ToolJSON.text((data["searchIssues"] as? [String: Any])?["nodes"] ?? [])
        },
        AgentTool(
            name: "linear_get_issue", provider: .linear,
            description: "Get one Linear issue by id or identifier (like ENG-123), with its description, state, assignee and recent comments.",
            inputSchema: Schema.object(["id": Schema.string("The issue's id or identifier, e.g. ENG-123.")], required: ["id"])
        ) { input, access in
            let data = try await graphQL(access, """
                query($id: String!) { issue(id: $id) { id identifier title description url priority
                  state { id name type } assignee { id name } team { id key name }
                  comments(first: 20) { nodes { body createdAt user { name } } } } }
                """, ["id": try input.string("id")])
            return ToolJSON.text(data["issue"] ?? NSNull())
        },
        AgentTool(
            name: "linear_create_issue", provider: .linear,
            description: "Create a Linear issue in a team. Use linear_list_teams to find the team id.",
            inputSchema: Schema.object([
                "teamId": Schema.string("The team's id."),
                "title": Schema.string("The issue title."),
                "description": Schema.string("Markdown description (optional)."),
                "assigneeId": Schema.string("A user id to assign (optional)."),
                "stateId": Schema.string("A workflow state id (optional)."),
            ], required: ["teamId", "title"])
        ) { input, access in
            var fields: [String: Any] = ["teamId": try input.string("teamId"), "title": try input.string("title")]
            for name in ["description", "assigneeId", "stateId"] { if let value = input.optionalString(name) { fields[name] = value } }
            let data = try await graphQL(access, """
                mutation($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier title url } } }
                """, ["input": fields])
            return try mutationResult(data, "issueCreate", "issue")
        },
        AgentTool(
            name: "linear_add_comment", provider: .linear,
            description: "Add a comment to a Linear issue.",
            inputSchema: Schema.object([
                "issueId": Schema.string("The issue's id or identifier."),
                "body": Schema.string("The comment, in Markdown."),
            ], required: ["issueId", "body"])
        ) { input, access in
            let data = try await graphQL(access, """
                mutation($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id url } } }
                """, ["input": ["issueId": try input.string("issueId"), "body": try input.string("body")]])
            return try mutationResult(data, "commentCreate", "comment")
        },
        AgentTool(
            name: "linear_update_issue", provider: .linear,
            description: "Change a Linear issue's workflow state or assignee. Use linear_list_teams for state ids.",
            inputSchema: Schema.object([
                "id": Schema.string("The issue's id or identifier."),
                "stateId": Schema.string("The new workflow state id (optional)."),
                "assigneeId": Schema.string("The new assignee's user id (optional)."),
            ], required: ["id"])
        ) { input, access in
            var fields = [String: Any]()
            for name in ["stateId", "assigneeId"] { if let value = input.optionalString(name) { fields[name] = value } }
            guard !fields.isEmpty else { throw ToolFailure("Give `stateId`, `assigneeId` or both.") }
            let data = try await graphQL(access, """
                mutation($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) {
                  success issue { id identifier state { name } assignee { name } } } }
                """, ["id": try input.string("id"), "input": fields])
            return try mutationResult(data, "issueUpdate", "issue")
        },
        AgentTool(
            name: "linear_list_teams", provider: .linear,
            description: "List the Linear teams, with each team's workflow states (ids and names).",
            inputSchema: Schema.object([:])
        ) { _, access in
            let data = try await graphQL(access, """
                query { teams(first: 50) { nodes { id key name states { nodes { id name type } } } } }
                """, [:])
            return ToolJSON.text((data["teams"] as? [String: Any])?["nodes"] ?? [])
        },
    ]

    /// Runs a query; answers its `data`, or fails with the errors' own words.
    static func graphQL(_ access: ToolAccess, _ query: String, _ variables: [String: Any]) async throws -> [String: Any] {
        let reply: ProviderHTTP.Reply
        do {
            reply = try await access.http.postJSON(access.urls.linear + "/graphql", ["query": query, "variables": variables],
                                                   headers: [("Authorization", "Bearer \(access.token)")])
        } catch {
            throw ToolFailure("Linear could not be reached: \(error)")
        }
        if let errors = reply.json["errors"] as? [[String: Any]], !errors.isEmpty {
            let messages = errors.map { error in
                ((error["extensions"] as? [String: Any])?["userPresentableMessage"] as? String) ?? error["message"] as? String ?? "unknown error"
            }
            throw ToolFailure("Linear: " + messages.joined(separator: "; "))
        }
        guard (200..<300).contains(reply.status), let data = reply.json["data"] as? [String: Any] else {
            throw ToolFailure("Linear answered HTTP \(reply.status).")
        }
        return data
    }

    private static func mutationResult(_ data: [String: Any], _ field: String, _ entity: String) throws -> String {
        guard let payload = data[field] as? [String: Any], payload["success"] as? Bool == true else {
            throw ToolFailure("Linear did not confirm \(field).")
        }
        return ToolJSON.text(payload[entity] ?? NSNull())
    }
}
