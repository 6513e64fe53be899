import Foundation
import MCP

/// Linear through its GraphQL API with the user's token (`LinearAPI`).
enum LinearTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "linear_search_issues", title: "Search Linear issues", provider: .linear, kind: .read,
            description:
                "Search Linear issues by text. Returns identifier, title, state, assignee and URL of each match.",
            inputSchema: Schema.object(
                [
                    "query": Schema.string("Words to search for in titles and descriptions."),
                    "limit": Schema.integer("How many results (1–50, default 10)."),
                ], required: ["query"])
        ) { input, access in
            let data = try await graphQL(
                access,
                """
                query($term: String!, $first: Int) { searchIssues(term: $term, first: $first) { nodes {
                  id identifier title url state { name } assignee { name } team { key } } } }
                """,
                [
                    "term": .string(try input.string("query")),
                    "first": .int(try input.int("limit", default: 10, range: 1...50)),
                ])
            return ToolJSON.text(data["searchIssues"]?["nodes"] ?? [])
        }.returning(.list(of: .object(["id": .string, "identifier": .string, "title": .string]))),
        AgentTool(
            name: "linear_get_issue", title: "Get a Linear issue", provider: .linear, kind: .read,
            description:
                "Get one Linear issue by id or identifier (like ENG-123), with its description, state, assignee and recent comments.",
            inputSchema: Schema.object(
                ["id": Schema.string("The issue's id or identifier, e.g. ENG-123.")], required: ["id"])
        ) { input, access in
            let data = try await graphQL(
                access,
                """
                query($id: String!) { issue(id: $id) { id identifier title description url priority
                  state { id name type } assignee { id name } team { id key name }
                  comments(first: 20) { nodes { body createdAt user { name } } } } }
                """, ["id": .string(try input.string("id"))])
            return ToolJSON.text(data["issue"] ?? .null)
        }.returning(.optional(.object(["id": .string, "identifier": .string, "title": .string]))),
        AgentTool(
            name: "linear_create_issue", title: "Create a Linear issue", provider: .linear, kind: .create,
            description: "Create a Linear issue in a team. Use linear_list_teams to find the team id.",
            inputSchema: Schema.object(
                [
                    "teamId": Schema.string("The team's id."),
                    "title": Schema.string("The issue title."),
                    "description": Schema.string("Markdown description (optional)."),
                    "assigneeId": Schema.string("A user id to assign (optional)."),
                    "stateId": Schema.string("A workflow state id (optional)."),
                ], required: ["teamId", "title"])
        ) { input, access in
            var fields: [String: Value] = [
                "teamId": .string(try input.string("teamId")), "title": .string(try input.string("title")),
            ]
            for name in ["description", "assigneeId", "stateId"] {
                if let value = input.optionalString(name) { fields[name] = .string(value) }
            }
            let data = try await graphQL(
                access,
                """
                mutation($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier title url } } }
                """, ["input": .object(fields)])
            return try mutationResult(data, "issueCreate", "issue")
        }.returning(.optional(.object(["id": .string, "identifier": .string]))),
        AgentTool(
            name: "linear_add_comment", title: "Comment on a Linear issue", provider: .linear, kind: .create,
            description: "Add a comment to a Linear issue.",
            inputSchema: Schema.object(
                [
                    "issueId": Schema.string("The issue's id or identifier."),
                    "body": Schema.string("The comment, in Markdown."),
                ], required: ["issueId", "body"])
        ) { input, access in
            let data = try await graphQL(
                access,
                """
                mutation($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id url } } }
                """,
                ["input": ["issueId": .string(try input.string("issueId")), "body": .string(try input.string("body"))]])
            return try mutationResult(data, "commentCreate", "comment")
        }.returning(.optional(.object(["id": .string]))),
        AgentTool(
            name: "linear_update_issue", title: "Update a Linear issue", provider: .linear, kind: .update,
            description: "Change a Linear issue's workflow state or assignee. Use linear_list_teams for state ids.",
            inputSchema: Schema.object(
                [
                    "id": Schema.string("The issue's id or identifier."),
                    "stateId": Schema.string("The new workflow state id (optional)."),
                    "assigneeId": Schema.string("The new assignee's user id (optional)."),
                ], required: ["id"])
        ) { input, access in
            var fields = [String: Value]()
            for name in ["stateId", "assigneeId"] {
                if let value = input.optionalString(name) { fields[name] = .string(value) }
            }
            guard !fields.isEmpty else { throw ToolFailure("Give `stateId`, `assigneeId` or both.") }
            let data = try await graphQL(
                access,
                """
                mutation($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) {
                  success issue { id identifier state { name } assignee { name } } } }
                """, ["id": .string(try input.string("id")), "input": .object(fields)])
            return try mutationResult(data, "issueUpdate", "issue")
        }.returning(.optional(.object(["id": .string, "identifier": .string]))),
        AgentTool(
            name: "linear_list_teams", title: "List Linear teams", provider: .linear, kind: .read,
            description: "List the Linear teams, with each team's workflow states (ids and names).",
            inputSchema: Schema.object([:])
        ) { _, access in
            let data = try await graphQL(
                access,
                """
                query { teams(first: 50) { nodes { id key name states { nodes { id name type } } } } }
                """, [:])
            return ToolJSON.text(data["teams"]?["nodes"] ?? [])
        }.returning(.list(of: .object(["id": .string, "key": .string, "name": .string]))),
    ]

    /// Runs a query with the caller's token; answers its `data`.
    static func graphQL(_ access: ToolAccess, _ query: String, _ variables: [String: Value]) async throws -> [String:
        Value]
    {
        try await access.apis.linear.graphQL(query, variables: variables, token: access.token)
    }

    private static func mutationResult(_ data: [String: Value], _ field: String, _ entity: String) throws -> String {
        guard let payload = data[field], payload["success"]?.boolValue == true else {
            throw ToolFailure("Linear did not confirm \(field).")
        }
        return ToolJSON.text(payload[entity] ?? .null)
    }
}
