import Foundation
import MCP

/// GitHub's REST API (`GITHUB_API_URL`) with a bearer token (an installation token, a user
/// token or the App's JWT) and the versioned media type. Error answers carry `message`; those
/// words become `ProviderAPIFailure.status` here, once. Used by the provider and the tools.
struct GitHubAPI: Sendable {
    let http: ProviderHTTP
    /// `GITHUB_API_URL`, e.g. https://api.github.com
    let baseURL: String

    static let headers = [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")]

    func get(_ path: String, token: String) async throws(ProviderAPIFailure) -> Value {
        try await send("GET", path, token: token) { url, headers throws(ProviderError) in
            try await http.get(url, headers: headers)
        }
    }

    func post(_ path: String, _ body: [String: Value], token: String) async throws(ProviderAPIFailure) -> Value {
        try await send("POST", path, token: token) { url, headers throws(ProviderError) in
            try await http.postJSON(url, body, headers: headers)
        }
    }

    /// A DELETE whose answer has no body (204).
    func delete(_ path: String, token: String) async throws(ProviderAPIFailure) {
        _ = try await send("DELETE", path, token: token) { url, headers throws(ProviderError) in
            try await http.delete(url, headers: headers)
        }
    }

    /// Revokes a user token: `DELETE /applications/{client_id}/token`, authenticated as the App
    /// with Basic (its client id and secret), the token in the JSON body.
    func deleteApplicationToken(_ token: String, clientID: String, clientSecret: String)
        async throws(ProviderAPIFailure)
    {
        let basic = "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        let path = "/applications/\(clientID)/token"
        let reply: ProviderHTTP.Reply
        do {
            reply = try await http.delete(
                baseURL + path, json: ["access_token": token], headers: Self.headers + [("Authorization", basic)])
        } catch {
            throw ProviderAPIFailure(provider: .github, operation: "DELETE \(path)", reason: .unreachable("\(error)"))
        }
        guard (200..<300).contains(reply.status) else {
            throw ProviderAPIFailure(
                provider: .github, operation: "DELETE \(path)",
                reason: .status(reply.status, reply.json["message"]?.stringValue))
        }
    }

    private func send(
        _ method: String, _ path: String, token: String,
        _ call: (String, [(String, String)]) async throws(ProviderError) -> ProviderHTTP.Reply
    ) async throws(ProviderAPIFailure) -> Value {
        let operation = "\(method) \(path.split(separator: "?").first ?? "")"
        let reply: ProviderHTTP.Reply
        do {
            reply = try await call(baseURL + path, Self.headers + [("Authorization", "Bearer \(token)")])
        } catch {
            throw ProviderAPIFailure(provider: .github, operation: operation, reason: .unreachable("\(error)"))
        }
        guard (200..<300).contains(reply.status) else {
            throw ProviderAPIFailure(
                provider: .github, operation: operation,
                reason: .status(reply.status, reply.json["message"]?.stringValue))
        }
        return (try? ExactValue.decode(reply.body)) ?? .null
    }
}
