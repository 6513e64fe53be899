import MCP

/// Linear's GraphQL API (`LINEAR_API_URL/graphql`) with a bearer token. GraphQL answers errors
/// with HTTP 200 and an `errors` array — turned into `ProviderAPIFailure.refused` with the
/// errors' own (user-presentable) words here, once. Used by the provider, the tools and the
/// agent-session trigger.
struct LinearAPI: Sendable {
    let http: ProviderHTTP
    /// `LINEAR_API_URL`, e.g. https://api.linear.app
    let baseURL: String

    /// Runs `query`; answers its `data`.
    func graphQL(_ query: String, variables: [String: Value] = [:], token: String) async throws(ProviderAPIFailure)
        -> [String: Value]
    {
        let reply: ProviderHTTP.Reply
        do {
            reply = try await http.postJSON(
                baseURL + "/graphql", ["query": Value.string(query), "variables": .object(variables)],
                headers: [("Authorization", "Bearer \(token)")])
        } catch {
            throw ProviderAPIFailure(provider: .linear, operation: "GraphQL", reason: .unreachable("\(error)"))
        }
        let json = reply.json
        if let errors = json["errors"]?.arrayValue, !errors.isEmpty {
            let messages = errors.map { error in
                error.objectValue?["extensions"]?.objectValue?["userPresentableMessage"]?.stringValue
                    ?? error.objectValue?["message"]?.stringValue ?? "unknown error"
            }
            throw ProviderAPIFailure(
                provider: .linear, operation: "GraphQL", reason: .refused(messages.joined(separator: "; ")))
        }
        guard (200..<300).contains(reply.status), let data = json["data"]?.objectValue else {
            throw ProviderAPIFailure(provider: .linear, operation: "GraphQL", reason: .status(reply.status, nil))
        }
        return data
    }

    /// Posts an activity (thought, action, response, error) to an agent session.
    func createAgentActivity(token: String, session: String, content: [String: String]) async throws(ProviderAPIFailure)
    {
        _ = try await graphQL(
            """
            mutation($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success agentActivity { id } } }
            """,
            variables: [
                "input": ["agentSessionId": .string(session), "content": .object(content.mapValues { .string($0) })]
            ], token: token)
    }
}
