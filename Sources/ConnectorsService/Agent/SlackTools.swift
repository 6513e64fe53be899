import Foundation
import MCP

/// Slack through its Web API with the workspace's bot token (`SlackAPI`). The bot may be in
/// conversations the person is not, so a tool opens a conversation only as the person could in
/// Slack: a public channel, a private channel they are a member of, or their own direct
/// message with the app (`SlackConversationAccess`).
enum SlackTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "slack_list_channels", title: "List Slack channels", provider: .slack, kind: .read,
            description:
                "List the Slack channels of the connected workspace that you can open (public ones and private ones you are in): id, name, whether private, whether the bot is a member.",
            inputSchema: Schema.object(["limit": Schema.integer("How many channels (1–200, default 100).")])
        ) { input, access in
            let reply = try await access.apis.slack.call(
                "conversations.list", token: access.token,
                [
                    ("types", "public_channel,private_channel"), ("exclude_archived", "true"),
                    ("limit", String(try input.int("limit", default: 100, range: 1...200))),
                ])
            var channels = reply["channels"]?.arrayValue ?? []
            if channels.contains(where: { $0["is_private"]?.boolValue != false }) {
                let open = try await SlackConversationAccess.privateChannels(access)
                channels.removeAll { channel in
                    channel["is_private"]?.boolValue != false && !open.contains(channel["id"]?.stringValue ?? "")
                }
            }
            return ToolJSON.text(.array(channels.map { $0.picking(["id", "name", "is_private", "is_member"]) }))
        }.returning(.list(of: .object(["id": .string, "name": .string]))),
        AgentTool(
            name: "slack_read_thread", title: "Read a Slack thread", provider: .slack, kind: .read,
            description: "Read a Slack thread: the parent message and its replies.",
            inputSchema: Schema.object(
                [
                    "channel": Schema.string("The channel id, e.g. C0123456."),
                    "ts": Schema.string("The parent message's ts."),
                    "limit": Schema.integer("How many messages (1–200, default 50)."),
                ], required: ["channel", "ts"])
        ) { input, access in
            let channel = try input.string("channel")
            try await SlackConversationAccess.check(channel, access)
            let reply = try await access.apis.slack.call(
                "conversations.replies", token: access.token,
                [
                    ("channel", channel), ("ts", try input.string("ts")),
                    ("limit", String(try input.int("limit", default: 50, range: 1...200))),
                ])
            let messages = (reply["messages"]?.arrayValue ?? []).map {
                $0.picking(["user", "bot_id", "text", "ts", "thread_ts"])
            }
            return ToolJSON.text(.array(messages))
        }.returning(.list(of: .object(["ts": .string]))),
        AgentTool(
            name: "slack_post_message", title: "Post a Slack message", provider: .slack, kind: .create,
            description: "Post a message to a Slack channel, or as a reply in a thread when `thread_ts` is given.",
            inputSchema: Schema.object(
                [
                    "channel": Schema.string("The channel id."),
                    "text": Schema.string("The message (Slack mrkdwn)."),
                    "thread_ts": Schema.string("The parent message's ts, to reply in its thread (optional)."),
                ], required: ["channel", "text"])
        ) { input, access in
            let channel = try input.string("channel")
            try await SlackConversationAccess.check(channel, access)
            let reply = try await access.apis.slack.postMessage(
                token: access.token, channel: channel, text: try input.string("text"),
                threadTs: input.optionalString("thread_ts"))
            return ToolJSON.text(["channel": reply["channel"] ?? "", "ts": reply["ts"] ?? ""])
        }.returning(.object(["channel": .string, "ts": .string])),
    ]
}

/// Which conversations the person behind a Slack connection may have the agent open. The tools
/// hold the workspace's bot token, which reaches every conversation the bot was added to;
/// acting with the person's rights means refusing the ones they could not open themselves.
enum SlackConversationAccess {
    static let notOpen = ToolFailure(
        "That Slack conversation is private and you are not in it; the agent opens only what you could open yourself."
    )
    static let unknownPerson = ToolFailure(
        "This Slack connection does not say who you are in the workspace, so only public channels are open; connect Slack again from the console."
    )

    /// Refuses `channel` unless it is public, a private channel or group DM the person is a member
    /// of, or the person's own direct message with the app.
    static func check(_ channel: String, _ access: ToolAccess) async throws {
        let reply = try await access.apis.slack.call("conversations.info", token: access.token, [("channel", channel)])
        let conversation = reply["channel"]
        let isDirect = conversation?["is_im"]?.boolValue == true
        let isPrivate = conversation?["is_private"]?.boolValue != false || conversation?["is_mpim"]?.boolValue == true
        guard isDirect || isPrivate else { return }
        guard let person = access.actor else { throw unknownPerson }
        if isDirect {
            guard conversation?["user"]?.stringValue == person else { throw notOpen }
            return
        }
        guard try await isMember(person, of: channel, access) else { throw notOpen }
    }

    /// The private channels the person shares with the bot (`users.conversations` for them: with
    /// a bot token Slack names only private channels both are in). None when the person is unknown.
    static func privateChannels(_ access: ToolAccess) async throws -> Set<String> {
        guard let person = access.actor else { return [] }
        var found = Set<String>()
        try await pages("users.conversations", access, [("user", person), ("types", "private_channel")]) { reply in
            for channel in reply["channels"]?.arrayValue ?? [] {
                if let id = channel["id"]?.stringValue { found.insert(id) }
            }
            return false
        }
        return found
    }

    static func isMember(_ person: String, of channel: String, _ access: ToolAccess) async throws -> Bool {
        var member = false
        try await pages("conversations.members", access, [("channel", channel)]) { reply in
            member = reply["members"]?.arrayValue?.contains { $0.stringValue == person } == true
            return member
        }
        return member
    }

    /// Follows Slack's cursor through at most 50 pages of 1,000, until `page` says it is done.
    private static func pages(
        _ method: String, _ access: ToolAccess, _ fields: [(String, String)],
        _ page: ([String: Value]) -> Bool
    ) async throws {
        var cursor = ""
        for _ in 0..<50 {
            var request = fields + [("limit", "1000")]
            if !cursor.isEmpty { request.append(("cursor", cursor)) }
            let reply = try await access.apis.slack.call(method, token: access.token, request)
            if page(reply) { return }
            cursor = reply["response_metadata"]?["next_cursor"]?.stringValue ?? ""
            if cursor.isEmpty { return }
        }
    }
}
