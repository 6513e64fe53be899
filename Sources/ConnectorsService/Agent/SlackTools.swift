import Foundation
import MCP

/// Slack through its Web API with the workspace's bot token (`SlackAPI`).
enum SlackTools {
    static let all: [AgentTool] = [
        AgentTool(
            name: "slack_list_channels", title: "List Slack channels", provider: .slack, kind: .read,
            description:
                "List the Slack channels of the connected workspace (id, name, whether private, whether the bot is a member).",
            inputSchema: Schema.object(["limit": Schema.integer("How many channels (1–200, default 100).")])
        ) { input, access in
            let reply = try await access.apis.slack.call(
                "conversations.list", token: access.token,
                [
                    ("types", "public_channel,private_channel"), ("exclude_archived", "true"),
                    ("limit", String(try input.int("limit", default: 100, range: 1...200))),
                ])
            let channels = (reply["channels"]?.arrayValue ?? []).map {
                $0.picking(["id", "name", "is_private", "is_member"])
            }
            return ToolJSON.text(.array(channels))
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
            let reply = try await access.apis.slack.call(
                "conversations.replies", token: access.token,
                [
                    ("channel", try input.string("channel")), ("ts", try input.string("ts")),
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
            let reply = try await access.apis.slack.postMessage(
                token: access.token, channel: try input.string("channel"), text: try input.string("text"),
                threadTs: input.optionalString("thread_ts"))
            return ToolJSON.text(["channel": reply["channel"] ?? "", "ts": reply["ts"] ?? ""])
        }.returning(.object(["channel": .string, "ts": .string])),
    ]
}
