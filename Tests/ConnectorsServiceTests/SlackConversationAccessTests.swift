import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

@testable import ConnectorsService

/// Slack's tools hold the workspace's bot token, which reaches every conversation the bot was
/// added to. They must act with the person's own rights: public channels, private channels the
/// person is in, and the person's own direct message with the app — nothing else.
@Suite struct SlackConversationAccessTests {
    static let conversations: [FakeToolAPIs.SlackConversation] = [
        .init(id: "G0EXEC", name: "exec", kind: .privateChannel, members: ["U0BOSS"]),
        .init(id: "G0TEAM", name: "team", kind: .privateChannel, members: ["U0ADA", "U0BOSS"]),
        .init(id: "D0ADA", kind: .direct(user: "U0ADA"), members: ["U0ADA"]),
        .init(id: "D0BOSS", kind: .direct(user: "U0BOSS"), members: ["U0BOSS"]),
    ]

    struct Outcome {
        let isError: Bool
        let text: String
        let structured: Any?
    }

    @Test func slackToolsOpenOnlyTheConversationsThePersonCouldOpen() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-acme",
                providerUserId: "U0ADA")
            fakes.apis.conversations.set(Self.conversations)
            var id = 0
            func call(_ name: String, _ arguments: String, as user: String = "user-1") async throws -> Outcome {
                id += 1
                let result = try await MCPTests.callTool(
                    client, token: issuer.accessToken(sub: user), id: id, name, arguments)
                return Outcome(
                    isError: result["isError"] as? Bool == true,
                    text: (result["content"] as? [[String: Any]])?.first?["text"] as? String ?? "",
                    structured: (result["structuredContent"] as? [String: Any])?["result"])
            }
            func read(_ channel: String, as user: String = "user-1") async throws -> Outcome {
                try await call("slack_read_thread", #"{"channel":"\#(channel)","ts":"1700000000.000100"}"#, as: user)
            }
            func repliesRead() -> [String] {
                fakes.apis.calls.get().filter { $0.operation == "conversations.replies" }.map {
                    $0.fields["channel"] ?? ""
                }
            }

            // The list leaves out the private channel the person is not in.
            let listed = try await call("slack_list_channels", "{}")
            #expect(!listed.isError)
            #expect(
                ((listed.structured as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == ["C1", "G0TEAM"])

            // Reading: public, their private channel and their own DM open; the others do not,
            // and Slack is never asked for those messages.
            for open in ["C1", "C0RANDOM", "G0TEAM", "D0ADA"] {
                let outcome = try await read(open)
                #expect(!outcome.isError, "\(open): \(outcome.text)")
            }
            for closed in ["G0EXEC", "D0BOSS"] {
                let outcome = try await read(closed)
                #expect(outcome.isError, "\(closed)")
                #expect(outcome.text.contains("private and you are not in it"), "\(outcome.text)")
            }
            #expect(repliesRead() == ["C1", "C0RANDOM", "G0TEAM", "D0ADA"])

            // Posting: the same rule, and nothing is posted where it is refused.
            let refused = try await call("slack_post_message", #"{"channel":"G0EXEC","text":"hello exec"}"#)
            #expect(refused.isError)
            let posted = try await call("slack_post_message", #"{"channel":"G0TEAM","text":"hello team"}"#)
            #expect(!posted.isError, "\(posted.text)")
            #expect(fakes.apis.posted.get().map(\.channel) == ["G0TEAM"])

            // A connection that does not say who made it opens public channels only.
            try await app.insertConnection(
                userId: "user-2", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-acme")
            let unknown = try await read("G0TEAM", as: "user-2")
            #expect(unknown.isError)
            #expect(unknown.text.contains("does not say who you are"), "\(unknown.text)")
            #expect(try await !read("C1", as: "user-2").isError)
            let theirs = try await call("slack_list_channels", "{}", as: "user-2")
            #expect(((theirs.structured as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == ["C1"])
        }
    }
}
