import Foundation
import MCP

/// GitHub through its REST API (`GITHUB_API_URL`) with the installation's token.
enum GitHubTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "github_list_repositories", provider: .github,
            description: "List the GitHub repositories the connected installation can access.",
            inputSchema: Schema.object([:])
        ) { _, access in
            let reply = try await get(access, "/installation/repositories?per_page=100")
            let repositories = (reply["repositories"] as? [[String: Any]] ?? []).map {
                pick($0, ["full_name", "private", "description", "default_branch", "html_url"])
            }
            return ToolJSON.text(repositories)
        },
        AgentTool(
            name: "github_search_issues", provider: .github,
            description: "Search GitHub issues and pull requests with GitHub's search syntax, e.g. `repo:owner/name is:issue is:open crash`.",
            inputSchema: Schema.object([
                "query": Schema.string("A GitHub search query."),
                "limit": Schema.integer("How many results (1–50, default 10)."),
            ], required: ["query"])
        ) { input, access in
            let query = try input.string("query").addingPercentEncoding(withAllowedCharacters: .urlQueryValue) ?? ""
            let reply = try await get(access, "/search/issues?q=\(query)&per_page=\(try input.int("limit", default: 10, range: 1...50))")
            let items = (reply["items"] as? [[String: Any]] ?? []).map { item in
                var summary = pick(item, ["number", "title", "state", "html_url", "repository_url"])
                summary["is_pull_request"] = item["pull_request"] != nil
                return summary
            }
            return ToolJSON.text(["total_count": reply["total_count"] ?? 0, "items": items])
        },
        AgentTool(
            name: "github_get_issue", provider: .github,
            description: "Get one GitHub issue or pull request (title, body, state, labels, author).",
            inputSchema: Schema.object([
                "repo": Schema.string("owner/name"), "number": Schema.integer("The issue or pull request number."),
            ], required: ["repo", "number"])
        ) { input, access in
            let issue = try await get(access, "/repos/\(try repository(input))/issues/\(try input.int("number"))")
            var summary = pick(issue, ["number", "title", "body", "state", "html_url", "comments", "created_at", "updated_at"])
            summary["author"] = (issue["user"] as? [String: Any])?["login"]
            summary["labels"] = (issue["labels"] as? [[String: Any]] ?? []).compactMap { $0["name"] }
            summary["is_pull_request"] = issue["pull_request"] != nil
            return ToolJSON.text(summary)
        },
        AgentTool(
            name: "github_get_pull_request", provider: .github,
            description: "Get one GitHub pull request with its branches, merge state and size.",
            inputSchema: Schema.object([
                "repo": Schema.string("owner/name"), "number": Schema.integer("The pull request number."),
            ], required: ["repo", "number"])
        ) { input, access in
            let pull = try await get(access, "/repos/\(try repository(input))/pulls/\(try input.int("number"))")
            var summary = pick(pull, ["number", "title", "body", "state", "merged", "draft", "mergeable_state", "html_url", "additions", "deletions", "changed_files"])
            summary["head"] = (pull["head"] as? [String: Any])?["ref"]
            summary["base"] = (pull["base"] as? [String: Any])?["ref"]
            summary["author"] = (pull["user"] as? [String: Any])?["login"]
            return ToolJSON.text(summary)
        },
        AgentTool(
            name: "github_create_issue", provider: .github,
            description: "Open a GitHub issue in a repository.",
            inputSchema: Schema.object([
                "repo": Schema.string("owner/name"), "title": Schema.string("The issue title."),
                "body": Schema.string("Markdown body (optional)."),
            ], required: ["repo", "title"])
        ) { input, access in
            var fields: [String: Any] = ["title": try input.string("title")]
            if let body = input.optionalString("body") { fields["body"] = body }
            let issue = try await post(access, "/repos/\(try repository(input))/issues", fields)
            return ToolJSON.text(pick(issue, ["number", "title", "html_url"]))
        },
        AgentTool(
            name: "github_comment", provider: .github,
            description: "Comment on a GitHub issue or pull request.",
            inputSchema: Schema.object([
                "repo": Schema.string("owner/name"), "number": Schema.integer("The issue or pull request number."),
                "body": Schema.string("The comment, in Markdown."),
            ], required: ["repo", "number", "body"])
        ) { input, access in
            let comment = try await post(access, "/repos/\(try repository(input))/issues/\(try input.int("number"))/comments", ["body": try input.string("body")])
            return ToolJSON.text(pick(comment, ["id", "html_url"]))
        },
        AgentTool(
            name: "github_read_file", provider: .github,
            description: "Read a text file from a GitHub repository (default branch unless `ref` is given).",
            inputSchema: Schema.object([
                "repo": Schema.string("owner/name"), "path": Schema.string("The file's path, e.g. src/main.swift"),
                "ref": Schema.string("A branch, tag or commit (optional)."),
            ], required: ["repo", "path"])
        ) { input, access in
            let path = try input.string("path").split(separator: "/").map(String.init)
            guard !path.isEmpty, !path.contains(".."), !path.contains(".") else { throw ToolFailure("`path` must be a file path inside the repository.") }
            let encoded = path.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathSegment) ?? $0 }.joined(separator: "/")
            var url = "/repos/\(try repository(input))/contents/\(encoded)"
            if let ref = input.optionalString("ref"), let value = ref.addingPercentEncoding(withAllowedCharacters: .urlQueryValue) { url += "?ref=\(value)" }
            let file = try await get(access, url)
            guard file["type"] as? String == "file", let content = file["content"] as? String,
                  let data = Data(base64Encoded: content.filter { !$0.isWhitespace }) else {
                throw ToolFailure("\(path.joined(separator: "/")) is not a file.")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw ToolFailure("\(path.joined(separator: "/")) is not a text file.") }
            return text
        },
    ]

    private static let headers = [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")]

    /// `owner/name`, checked so it cannot reach another path of the API.
    static func repository(_ input: ToolInput) throws -> String {
        let repo = try input.string("repo")
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.unicodeScalars.allSatisfy(allowed.contains) }) else {
            throw ToolFailure("`repo` must look like owner/name.")
        }
        return repo
    }

    static func get(_ access: ToolAccess, _ path: String) async throws -> [String: Any] {
        try checked(try await call { try await access.http.get(access.urls.github + path, headers: headers + [("Authorization", "Bearer \(access.token)")]) })
    }

    static func post(_ access: ToolAccess, _ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        try checked(try await call { try await access.http.postJSON(access.urls.github + path, body, headers: headers + [("Authorization", "Bearer \(access.token)")]) })
    }

    private static func call(_ body: () async throws -> ProviderHTTP.Reply) async throws -> ProviderHTTP.Reply {
        do { return try await body() } catch { throw ToolFailure("GitHub could not be reached: \(error)") }
    }

    /// 4xx/5xx answers carry `message` (and for 422 `errors`): the model gets those words.
    private static func checked(_ reply: ProviderHTTP.Reply) throws -> [String: Any] {
        guard (200..<300).contains(reply.status) else {
            let message = reply.json["message"] as? String ?? "no message"
            throw ToolFailure("GitHub answered HTTP \(reply.status): \(message)")
        }
        return reply.json
    }

    private static func pick(_ object: [String: Any], _ keys: [String]) -> [String: Any] {
        object.filter { keys.contains($0.key) }
    }
}

extension CharacterSet {
    /// Unreserved characters (RFC 3986): safe inside a query value or a path segment.
    static let urlQueryValue = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    static let urlPathSegment = urlQueryValue
}
