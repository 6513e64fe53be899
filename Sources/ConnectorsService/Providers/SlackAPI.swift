import MCP

/// Slack's Web API (`SLACK_API_URL`): methods are form posts with a bearer token, and Slack
/// answers failures with HTTP 200, `ok: false` and an `error` code — turned into
/// `ProviderAPIFailure.refused(code)` here, once. Used by the provider (install, refresh,
/// revoke), the tools and the trigger that answers in threads.
struct SlackAPI: Sendable {
    let http: ProviderHTTP
    /// `SLACK_API_URL`, e.g. https://slack.com/api
    let baseURL: String

    /// Calls `method`; the reply object when `ok` is true.
    func call(_ method: String, token: String?, _ fields: [(String, String)] = []) async throws(ProviderAPIFailure)
        -> [String: Value]
    {
        let reply: ProviderHTTP.Reply
        do {
            reply = try await http.postForm(
                baseURL + "/" + method, fields, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
        } catch {
            throw ProviderAPIFailure(provider: .slack, operation: method, reason: .unreachable("\(error)"))
        }
        guard reply.status == 200 else {
            throw ProviderAPIFailure(provider: .slack, operation: method, reason: .status(reply.status, nil))
        }
        let json = reply.json
        guard json["ok"]?.boolValue == true else {
            throw ProviderAPIFailure(
                provider: .slack, operation: method, reason: .refused(json["error"]?.stringValue ?? "unknown_error"))
        }
        return json
    }

    /// The workspace a token belongs to (`auth.test`).
    func workspace(token: String) async throws(ProviderAPIFailure) -> (id: String, name: String?) {
        let reply = try await call("auth.test", token: token)
        guard let team = reply["team_id"]?.stringValue else {
            throw ProviderAPIFailure(
                provider: .slack, operation: "auth.test", reason: .refused("no team_id in the answer"))
        }
        return (team, reply["team"]?.stringValue)
    }

    /// Posts `text` to `channel`, in the thread of `threadTs` when given. Links and media are
    /// never unfurled: an unfurl fetches a URL the model chose, which would carry data out by
    /// itself (a link whose query holds what the agent read).
    @discardableResult
    func postMessage(token: String, channel: String, text: String, threadTs: String? = nil)
        async throws(ProviderAPIFailure) -> [String: Value]
    {
        var fields = [("channel", channel), ("text", text), ("unfurl_links", "false"), ("unfurl_media", "false")]
        if let threadTs { fields.append(("thread_ts", threadTs)) }
        return try await call("chat.postMessage", token: token, fields)
    }

    /// The email in a member's Slack profile (`users.info`; needs `users:read.email`).
    func email(ofUser user: String, token: String) async throws(ProviderAPIFailure) -> String? {
        let reply = try await call("users.info", token: token, [("user", user)])
        return reply["user"]?["profile"]?["email"]?.stringValue?.lowercased()
    }

    /// Posts `text` that only `user` sees, in `channel` (and the thread of `threadTs`), with
    /// Block Kit `blocks` (JSON) when given (`text` is then the notification's fallback).
    func postEphemeral(
        token: String, channel: String, user: String, text: String, threadTs: String? = nil, blocks: String? = nil
    ) async throws(ProviderAPIFailure) {
        var fields = [("channel", channel), ("user", user), ("text", text)]
        if let threadTs { fields.append(("thread_ts", threadTs)) }
        if let blocks { fields.append(("blocks", blocks)) }
        _ = try await call("chat.postEphemeral", token: token, fields)
    }

    /// Answers an interaction through its `response_url` (JSON: `replace_original`, `text`,
    /// `blocks`, `response_type`). The URL came in a payload whose signature was checked.
    func respond(to responseURL: String, _ message: SlackResponseMessage) async throws(ProviderAPIFailure) {
        let reply: ProviderHTTP.Reply
        do {
            reply = try await http.postJSON(responseURL, message)
        } catch {
            throw ProviderAPIFailure(provider: .slack, operation: "response_url", reason: .unreachable("\(error)"))
        }
        guard (200..<300).contains(reply.status) else {
            throw ProviderAPIFailure(provider: .slack, operation: "response_url", reason: .status(reply.status, nil))
        }
    }
}

/// A message sent to an interaction's `response_url`.
struct SlackResponseMessage: Encodable, Sendable {
    var text: String
    /// Replace the message the button was on (true), or add a new one (false).
    var replace_original: Bool
    /// `ephemeral` for a note only the clicker sees.
    var response_type: String? = nil
    var blocks: [Value]? = nil
}
