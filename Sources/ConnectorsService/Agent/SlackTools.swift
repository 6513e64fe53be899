import Foundation
import MCP

/// Slack through its Web API (`SLACK_API_URL`) with the workspace's bot token. Slack answers
/// failures with HTTP 200 and `ok: false`; those are tool failures too.
enum SlackTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "slack_list_channels", provider: .slack,
            description: "List the Slack channels of the connected workspace (id, name, whether private, whether the bot is a member).",
            inputSchema: Schema.object(["limit": Schema.integer("How many channels (1–200, default 100).")])
        ) { input, access in
            let reply = try await call(access, "conversations.list", [
                ("types", "public_channel,private_channel"), ("exclude_archived", "true"),
                ("limit", String(try input.int("limit", default: 100, range: 1...200))),
            ])
            let channels = (reply["channels"] as? [[String: Any]] ?? []).map { $0.filter { ["id", "name", "is_private", "is_member"].contains($0.key) } }
            return ToolJSON.text(channels)
        },
        AgentTool(
            name: "slack_read_thread", provider: .slack,
            description: "Read a Slack thread: the parent message and its replies.",
            inputSchema: Schema.object([
                "channel": Schema.string("The channel id, e.g. C0123456."),
                "ts": Schema.string("The parent message's ts."),
                "limit": Schema.integer("How many messages (1–200, default 50)."),
            ], required: ["channel", "ts"])
        ) { input, access in
            let reply = try await call(access, "conversations.replies", [
                ("channel", try input.string("channel")), ("ts", try input.string("ts")),
                ("limit", String(try input.int("limit", default: 50, range: 1...200))),
            ])
            let messages = (reply["messages"] as? [[String: Any]] ?? []).map { $0.filter { ["user", "bot_id", "text", "ts", "thread_ts"].contains($0.key) } }
            return ToolJSON.text(messages)
        },
        AgentTool(
            name: "slack_post_message", provider: .slack,
            description: "Post a message to a Slack channel, or as a reply in a thread when `thread_ts` is given.",
            inputSchema: Schema.object([
                "channel": Schema.string("The channel id."),
                "text": Schema.string("The message (Slack mrkdwn)."),
                "thread_ts": Schema.string("The parent message's ts, to reply in its thread (optional)."),
            ], required: ["channel", "text"])
        ) { input, access in
            var fields = [("channel", try input.string("channel")), ("text", try input.string("text"))]
            if let thread = input.optionalString("thread_ts") { fields.append(("thread_ts", thread)) }
            let reply = try await call(access, "chat.postMessage", fields)
            return ToolJSON.text(["channel": reply["channel"] ?? "", "ts": reply["ts"] ?? ""])
        },
    ]

    /// Calls a Web API method (form-encoded, bearer token); `ok: false` becomes a failure.
    static func call(_ access: ToolAccess, _ method: String, _ fields: [(String, String)]) async throws -> [String: Any] {
        let reply: ProviderHTTP.Reply
        do {
            reply = try await access.http.postForm(access.urls.slack + "/" + method, fields, headers: [("Authorization", "Bearer \(access.token)")])
        } catch {
            throw ToolFailure("Slack could not be reached: \(error)")
        }
        guard reply.status == 200 else { throw ToolFailure("Slack answered HTTP \(reply.status) to \(method).") }
        guard reply.json["ok"] as? Bool == true else { throw ToolFailure("Slack \(method) failed: \(reply.json["error"] as? String ?? "unknown_error")") }
        return reply.json
    }
}
