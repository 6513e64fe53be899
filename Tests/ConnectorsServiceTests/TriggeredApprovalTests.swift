import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// Consent where the request came from: a Slack-triggered write asks the requester alone with
/// buttons (clicks signed like events, only theirs counts), and a Linear session asks with an
/// elicitation answered by the next prompt. Both ask even when the person's policy says allow.
@Suite struct TriggeredApprovalTests {
    typealias Triggers = AgentTriggerTests

    func withTriggers<T: Sendable>(
        _ body:
            @Sendable (ConnectorsTestApp, any TestClientProtocol, TestTokenIssuer, AgentTests.Fakes, String)
            async throws -> T
    ) async throws -> T {
        try await Triggers.withTriggers(body)
    }

    /// A button click as Slack sends it: a form whose `payload` is the JSON, signed over the
    /// raw body with the events secret.
    static func click(
        _ client: any TestClientProtocol, approval: String, action: String, user: String, responseURL: String,
        timestamp: Int = Int(Date().timeIntervalSince1970), signature: String? = nil
    ) async throws -> TestResponse {
        let payload =
            #"{"type":"block_actions","user":{"id":"\#(user)","team_id":"T0ACME"},"team":{"id":"T0ACME"},"api_app_id":"A0APP","trigger_id":"\#(UUID().uuidString)","response_url":"\#(responseURL)","container":{"type":"message"},"actions":[{"type":"button","action_id":"\#(action)","block_id":"approval","value":"\#(approval)","action_ts":"1700000002.000100"}]}"#
        let body = "payload=" + payload.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let signed =
            signature
            ?? "v0="
            + HMACSigner.sha256Hex(secret: Triggers.slackSecret, message: Array("v0:\(timestamp):\(body)".utf8))
        return try await client.execute(
            uri: "/slack/interactions", method: .post,
            headers: [
                .contentType: "application/x-www-form-urlencoded", .slackTimestamp: String(timestamp),
                .slackSignature: signed,
            ], body: ByteBuffer(string: body))
    }

    static func approvalStatuses(_ app: ConnectorsTestApp) async throws -> [String] {
        try await app.sql { sql in
            var statuses = [String]()
            for try await status in try await sql.query(#"SELECT "status" FROM "agentApproval" ORDER BY "createdAt""#)
                .decode(String.self)
            { statuses.append(status) }
            return statuses
        }
    }

    static func allow(_ app: ConnectorsTestApp, _ tool: String) async throws {
        try await app.sql { sql in
            try await sql.query(
                #"INSERT INTO "agentToolPolicy" ("userId", "tool", "policy") VALUES ('user-1', \#(tool), 'allow')"#)
        }
    }

    @Test func aSlackRequesterApprovesWithAButtonAndOnlyTheirClickCounts() async throws {
        try await withTriggers { app, client, issuer, fakes, fakeURL in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0HUMAN")
            // Allowed by policy, and still asked: the run was started by a webhook.
            try await Self.allow(app, "slack_post_message")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_p", "slack_post_message", ["channel": "C2", "text": "Deploy done"])],
                    stopReason: "tool_use", inputTokens: 5, outputTokens: 5),
                .message(
                    [FakeAnthropic.text("Posted in C2.")], stopReason: "end_turn", inputTokens: 5, outputTokens: 5),
            ])
            #expect(
                try await Triggers().slackPost(client, Triggers.mention(id: "EvASK1", text: "<@U0BOT> announce it"))
                    .status == .ok)
            try await eventually("the requester is asked") { fakes.apis.ephemeral.get().count == 1 }
            let asked = try #require(fakes.apis.ephemeral.get().first)
            #expect(asked.user == "U0HUMAN")
            #expect(asked.channel == "C1")
            #expect(asked.text.contains("Post a Slack message"))
            let ask = try #require(fakes.apis.calls.get().first { $0.operation == "chat.postEphemeral" })
            #expect(ask.fields["thread_ts"] == "1700000000.000100")
            let blocks = try #require(ask.fields["blocks"])
            let approval = try #require(
                try await app.sql { sql in
                    for try await id in try await sql.query(#"SELECT "id" FROM "agentApproval""#).decode(String.self) {
                        return id
                    }
                    return nil
                })
            #expect(blocks.contains(#""value":"\#(approval)""#))
            #expect(blocks.contains(#""action_id":"approve""#) && blocks.contains(#""action_id":"deny""#))
            // Nothing was posted: neither the action nor an answer.
            #expect(fakes.apis.posted.get().isEmpty)

            let hook = fakeURL + "/slack-hooks/1"
            // Forged or replayed clicks are refused before anything is read or stored.
            let forged = try await Self.click(
                client, approval: approval, action: "approve", user: "U0HUMAN", responseURL: hook,
                signature: "v0=" + String(repeating: "0", count: 64))
            #expect(forged.status == .unauthorized)
            let stale = try await Self.click(
                client, approval: approval, action: "approve", user: "U0HUMAN", responseURL: hook,
                timestamp: Int(Date().timeIntervalSince1970) - 3600)
            #expect(stale.status == .unauthorized)
            #expect(try await Triggers().statuses(app).count == 1)

            // Someone else's click: told privately, nothing decided.
            #expect(
                try await Self.click(client, approval: approval, action: "approve", user: "U0OTHER", responseURL: hook)
                    .status == .ok)
            try await eventually("the other clicker is told") { fakes.apis.responses.get().count == 1 }
            let note = try #require(fakes.apis.responses.get().first)
            #expect(note["response_type"] as? String == "ephemeral")
            #expect(note["replace_original"] as? Bool == false)
            #expect((note["text"] as? String)?.contains("<@U0HUMAN>") == true)
            #expect(try await Self.approvalStatuses(app) == ["pending"])
            #expect(fakes.apis.posted.get().isEmpty)

            // The requester's click: the message becomes the outcome, the call is made once,
            // and the answer lands in the thread.
            #expect(
                try await Self.click(client, approval: approval, action: "approve", user: "U0HUMAN", responseURL: hook)
                    .status == .ok)
            try await eventually("the answer is posted") { fakes.apis.posted.get().count == 2 }
            let outcome = try #require(fakes.apis.responses.get().last)
            #expect(outcome["replace_original"] as? Bool == true)
            #expect((outcome["text"] as? String)?.hasPrefix("Approved") == true)
            let posted = fakes.apis.posted.get()
            #expect(posted.map(\.channel) == ["C2", "C1"])
            #expect(posted[0].text == "Deploy done")
            #expect(posted[1].thread == "1700000000.000100")
            #expect(posted[1].text == "Posted in C2.")
            let posts = fakes.apis.calls.get().filter { $0.operation == "chat.postMessage" }
            #expect(posts.allSatisfy { $0.fields["unfurl_links"] == "false" && $0.fields["unfurl_media"] == "false" })
            #expect(try await Self.approvalStatuses(app) == ["approved"])

            // A second click changes nothing.
            #expect(
                try await Self.click(client, approval: approval, action: "deny", user: "U0HUMAN", responseURL: hook)
                    .status == .ok)
            try await eventually("the late click is answered") { fakes.apis.responses.get().count == 3 }
            #expect((fakes.apis.responses.get().last?["text"] as? String)?.contains("already approved") == true)
            #expect(fakes.apis.posted.get().count == 2)

            let events =
                try await client.get("/audit", bearer: issuer.token(sub: "user-1")).json["events"] as? [[String: Any]]
                ?? []
            #expect(events.compactMap { $0["action"] as? String } == ["tool.call", "approval.approved"])
            #expect(events.allSatisfy { $0["surface"] as? String == "slack" })
            #expect(events.last?["decidedBy"] as? String == "slack:U0HUMAN")
            #expect(events.first?["target"] as? String == "channel C2")
        }
    }

    @Test func aLinearSessionAsksWithAnElicitationAndTheNextPromptDecides() async throws {
        try await withTriggers { app, client, issuer, fakes, fakeURL in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1",
                providerUserId: "lin-user-1")
            fakes.claude.script.set([
                .message(
                    [
                        FakeAnthropic.toolUse(
                            "toolu_c", "linear_create_issue", ["teamId": "team-1", "title": "Secret title"])
                    ], stopReason: "tool_use", inputTokens: 5, outputTokens: 5),
                .message(
                    [FakeAnthropic.text("Created ENG-2.")], stopReason: "end_turn", inputTokens: 5, outputTokens: 5),
            ])
            let now = Int(Date().timeIntervalSince1970 * 1000)
            func session(_ action: String, _ extra: String) -> String {
                #"{"type":"AgentSessionEvent","action":"\#(action)","createdAt":"2026-11-25T00:00:00.000Z","organizationId":"org-acme","oauthClientId":"c","appUserId":"app-user","webhookId":"wh-9","webhookTimestamp":\#(now),"agentSession":{"id":"sess-9","creatorId":"lin-user-1","issue":{"id":"iss-9","identifier":"ENG-9","title":"Crash"}}\#(extra)}"#
            }
            func prompt(_ text: String, by user: String = "lin-user-1") -> String {
                session(
                    "prompted", #","agentActivity":{"userId":"\#(user)","content":{"type":"prompt","body":"\#(text)"}}"#
                )
            }
            let triggers = Triggers()
            #expect(
                try await triggers.linearPost(
                    client, session("created", #","promptContext":"File it.""#), delivery: "d1"
                )
                .status == .ok)
            try await eventually("the elicitation") {
                fakes.apis.activities.get().contains { $0.content["type"] == "elicitation" }
            }
            #expect(fakes.apis.activities.get().map { $0.content["type"] ?? "" } == ["thought", "elicitation"])
            #expect(fakes.apis.activities.get()[1].content["body"]?.contains("Create a Linear issue") == true)
            #expect(Self.issueCreates(fakes) == 0)

            #expect(try await triggers.linearPost(client, prompt("maybe later"), delivery: "d2").status == .ok)
            try await eventually("asked again") {
                fakes.apis.activities.get().filter { $0.content["type"] == "elicitation" }.count == 2
            }
            #expect(try await Self.approvalStatuses(app) == ["pending"])
            // Someone else in the organization answering decides nothing.
            #expect(
                try await triggers.linearPost(client, prompt("approve", by: "lin-other"), delivery: "d2b").status == .ok
            )
            try await eventually("the stranger's answer handled") {
                let statuses = try await Triggers().statuses(app)
                return statuses.count == 3 && !statuses.contains("pending") && !statuses.contains("processing")
            }
            #expect(try await Self.approvalStatuses(app) == ["pending"])
            #expect(Self.issueCreates(fakes) == 0)

            #expect(try await triggers.linearPost(client, prompt("Approve"), delivery: "d3").status == .ok)
            try await eventually("the response") {
                fakes.apis.activities.get().contains { $0.content["type"] == "response" }
            }
            #expect(Self.issueCreates(fakes) == 1)
            let types = fakes.apis.activities.get().map { $0.content["type"] ?? "" }
            #expect(types == ["thought", "elicitation", "elicitation", "action", "response"])
            let action = fakes.apis.activities.get()[3].content
            #expect(action["action"] == "linear_create_issue")
            #expect(action["parameter"] == "team team-1")
            #expect(action["result"] == "Done")
            // The session never echoes the tool's input or result.
            #expect(
                !fakes.apis.activities.get().contains { $0.content.values.contains { $0.contains("Secret title") } })
            #expect(fakes.apis.activities.get().last?.content["body"] == "Created ENG-2.")

            let events =
                try await client.get("/audit", bearer: issuer.token(sub: "user-1")).json["events"] as? [[String: Any]]
                ?? []
            #expect(events.compactMap { $0["action"] as? String } == ["tool.call", "approval.approved"])
            #expect(events.allSatisfy { $0["surface"] as? String == "linear" })
            #expect(events.last?["decidedBy"] as? String == "linear:lin-user-1")
        }
    }

    @Test func aTriggeredRunPastThePersonsBudgetIsRefusedPolitelyInTheThread() async throws {
        try await withTriggers { app, client, _, fakes, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0HUMAN")
            // Today's budget (1 000 000 by default) already spent by an earlier run.
            try await app.sql { sql in
                try await sql.query(
                    #"INSERT INTO "agentRun" ("id", "userId", "status", "prompt", "inputTokens", "outputTokens") VALUES ('earlier', 'user-1', 'completed', 'x', 900000, 100000)"#
                )
            }
            #expect(try await Triggers().slackPost(client, Triggers.mention(id: "EvBROKE")).status == .ok)
            try await eventually("the refusal is posted") { fakes.apis.posted.get().count == 1 }
            let posted = try #require(fakes.apis.posted.get().first)
            #expect(posted.thread == "1700000000.000100")
            #expect(posted.text.contains("budget"))
            #expect(fakes.claude.received.get().isEmpty)
            try await eventually("recorded skipped") { try await Triggers().statuses(app) == ["skipped"] }
        }
    }

    static func issueCreates(_ fakes: AgentTests.Fakes) -> Int {
        fakes.apis.calls.get().filter { $0.operation == "issueCreate" }.count
    }
}
