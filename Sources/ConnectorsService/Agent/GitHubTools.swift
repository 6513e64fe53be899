import Foundation
import MCP

/// GitHub through its REST API with the connection's token (`GitHubAPI`).
enum GitHubTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "github_list_repositories", title: "List GitHub repositories", provider: .github, kind: .read,
            description: "List the GitHub repositories of the connected installation that you can access.",
            inputSchema: Schema.object([:])
        ) { _, access in
            // As the user: the installation's repositories this person can open, not all of them.
            let reply = try await get(access, "/user/installations/\(access.account)/repositories?per_page=100")
            let repositories = (reply["repositories"]?.arrayValue ?? []).map {
                $0.picking(["full_name", "private", "description", "default_branch", "html_url"])
            }
            return ToolJSON.text(.array(repositories))
        }.returning(.list(of: .object(["full_name": .string, "private": .boolean, "html_url": .string]))),
        AgentTool(
            name: "github_search_issues", title: "Search GitHub issues", provider: .github, kind: .read,
            description:
                "Search GitHub issues and pull requests with GitHub's search syntax, e.g. `repo:owner/name is:issue is:open crash`.",
            inputSchema: Schema.object(
                [
                    "query": Schema.string("A GitHub search query."),
                    "limit": Schema.integer("How many results (1–50, default 10)."),
                ], required: ["query"])
        ) { input, access in
            let query = try input.string("query").addingPercentEncoding(withAllowedCharacters: .urlQueryValue) ?? ""
            let reply = try await get(
                access, "/search/issues?q=\(query)&per_page=\(try input.int("limit", default: 10, range: 1...50))")
            let items = (reply["items"]?.arrayValue ?? []).map { item in
                var summary =
                    item.picking(["number", "title", "state", "html_url", "repository_url"]).objectValue ?? [:]
                summary["is_pull_request"] = .bool(item["pull_request"] != nil)
                return Value.object(summary)
            }
            return ToolJSON.text(["total_count": reply["total_count"] ?? 0, "items": .array(items)])
        }.returning(
            .object([
                "total_count": .integer,
                "items": .list(of: .object(["number": .integer, "title": .string, "html_url": .string])),
            ])),
        AgentTool(
            name: "github_get_issue", title: "Get a GitHub issue", provider: .github, kind: .read,
            description: "Get one GitHub issue or pull request (title, body, state, labels, author).",
            inputSchema: Schema.object(
                [
                    "repo": Schema.string("owner/name"), "number": Schema.integer("The issue or pull request number."),
                ], required: ["repo", "number"])
        ) { input, access in
            let issue = try await get(access, "/repos/\(try repository(input))/issues/\(try input.int("number"))")
            var summary =
                issue.picking(["number", "title", "body", "state", "html_url", "comments", "created_at", "updated_at"])
                .objectValue ?? [:]
            summary["author"] = issue["user", "login"]
            summary["labels"] = .array((issue["labels"]?.arrayValue ?? []).compactMap { $0["name"] })
            summary["is_pull_request"] = .bool(issue["pull_request"] != nil)
            return ToolJSON.text(.object(summary))
        }.returning(.object(["number": .integer, "title": .string, "state": .string, "html_url": .string])),
        AgentTool(
            name: "github_get_pull_request", title: "Get a GitHub pull request", provider: .github, kind: .read,
            description: "Get one GitHub pull request with its branches, merge state and size.",
            inputSchema: Schema.object(
                [
                    "repo": Schema.string("owner/name"), "number": Schema.integer("The pull request number."),
                ], required: ["repo", "number"])
        ) { input, access in
            let pull = try await get(access, "/repos/\(try repository(input))/pulls/\(try input.int("number"))")
            var summary =
                pull.picking([
                    "number", "title", "body", "state", "merged", "draft", "mergeable_state", "html_url", "additions",
                    "deletions", "changed_files",
                ]).objectValue ?? [:]
            summary["head"] = pull["head", "ref"]
            summary["base"] = pull["base", "ref"]
            summary["author"] = pull["user", "login"]
            return ToolJSON.text(.object(summary))
        }.returning(.object(["number": .integer, "title": .string, "state": .string, "html_url": .string])),
        AgentTool(
            name: "github_create_issue", title: "Create a GitHub issue", provider: .github, kind: .create,
            description: "Open a GitHub issue in a repository.",
            inputSchema: Schema.object(
                [
                    "repo": Schema.string("owner/name"), "title": Schema.string("The issue title."),
                    "body": Schema.string("Markdown body (optional)."),
                ], required: ["repo", "title"])
        ) { input, access in
            var fields: [String: Value] = ["title": .string(try input.string("title"))]
            if let body = input.optionalString("body") { fields["body"] = .string(body) }
            let issue = try await post(access, "/repos/\(try repository(input))/issues", fields)
            return ToolJSON.text(issue.picking(["number", "title", "html_url"]))
        }.returning(.object(["number": .integer, "title": .string, "html_url": .string])),
        AgentTool(
            name: "github_comment", title: "Comment on a GitHub issue or pull request", provider: .github,
            kind: .create,
            description: "Comment on a GitHub issue or pull request.",
            inputSchema: Schema.object(
                [
                    "repo": Schema.string("owner/name"), "number": Schema.integer("The issue or pull request number."),
                    "body": Schema.string("The comment, in Markdown."),
                ], required: ["repo", "number", "body"])
        ) { input, access in
            let comment = try await post(
                access, "/repos/\(try repository(input))/issues/\(try input.int("number"))/comments",
                ["body": .string(try input.string("body"))])
            return ToolJSON.text(comment.picking(["id", "html_url"]))
        }.returning(.object(["id": .integer, "html_url": .string])),
        AgentTool(
            name: "github_read_file", title: "Read a file from a GitHub repository", provider: .github, kind: .read,
            description: "Read a text file from a GitHub repository (default branch unless `ref` is given).",
            inputSchema: Schema.object(
                [
                    "repo": Schema.string("owner/name"), "path": Schema.string("The file's path, e.g. src/main.swift"),
                    "ref": Schema.string("A branch, tag or commit (optional)."),
                ], required: ["repo", "path"])
        ) { input, access in
            let path = try input.string("path").split(separator: "/").map(String.init)
            guard !path.isEmpty, !path.contains(".."), !path.contains(".") else {
                throw ToolFailure("`path` must be a file path inside the repository.")
            }
            let encoded = path.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathSegment) ?? $0 }.joined(
                separator: "/")
            var url = "/repos/\(try repository(input))/contents/\(encoded)"
            if let ref = input.optionalString("ref"),
                let value = ref.addingPercentEncoding(withAllowedCharacters: .urlQueryValue)
            {
                url += "?ref=\(value)"
            }
            let file = try await get(access, url)
            guard file["type"]?.stringValue == "file", let content = file["content"]?.stringValue,
                let data = Data(base64Encoded: content.filter { !$0.isWhitespace })
            else {
                throw ToolFailure("\(path.joined(separator: "/")) is not a file.")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ToolFailure("\(path.joined(separator: "/")) is not a text file.")
            }
            return text
        },
    ]

    /// `owner/name`, checked so it cannot reach another path of the API.
    static func repository(_ input: ToolInput) throws -> String {
        let repo = try input.string("repo")
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2,
            parts.allSatisfy({
                !$0.isEmpty && $0 != "." && $0 != ".." && $0.unicodeScalars.allSatisfy(allowed.contains)
            })
        else {
            throw ToolFailure("`repo` must look like owner/name.")
        }
        return repo
    }

    static func get(_ access: ToolAccess, _ path: String) async throws -> Value {
        try await access.apis.github.get(path, token: access.token)
    }

    static func post(_ access: ToolAccess, _ path: String, _ body: [String: Value]) async throws -> Value {
        try await access.apis.github.post(path, body, token: access.token)
    }
}

extension CharacterSet {
    /// Unreserved characters (RFC 3986): safe inside a query value or a path segment.
    static let urlQueryValue = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    static let urlPathSegment = urlQueryValue
}
