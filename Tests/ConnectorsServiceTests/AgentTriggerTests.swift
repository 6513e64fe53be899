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

/// Agent runs started by signed webhooks: a Slack mention answered once in its thread, a Linear
/// agent session given a thought, actions and a response.
@Suite struct AgentTriggerTests {
    static let slackSecret = "slack-signing-secret-for-triggers"
    static let linearSecret = "linear-webhook-secret-for-triggers"

    func withTriggers<T: Sendable>(
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol, AgentTests.Fakes) async throws -> T
    ) async throws -> T {
        try await Self.withTriggers { app, client, _, fakes, _ in try await body(app, client, fakes) }
    }

    /// The app with both webhook secrets, a fast worker and resumer, and the fakes; `body` also
    /// gets the JWT issuer and the fakes' URL.
    static func withTriggers<T: Sendable>(
        _ body:
            @Sendable (ConnectorsTestApp, any TestClientProtocol, TestTokenIssuer, AgentTests.Fakes, String)
            async throws -> T
    ) async throws -> T {
        let fakes = AgentTests.Fakes()
        return try await withProviderFake(
            fakes.router,
            overrides: { base in
                AgentTests.overrides(base).merging([
                    "SLACK_SIGNING_SECRET": Self.slackSecret, "LINEAR_WEBHOOK_SECRET": Self.linearSecret,
                ]) { $1 }
            },
            configure: { config in
                WebhookWorkerTests.fastSettings(&config.webhookWorker)
                ApprovalTests.fast(&config)
            }
        ) { app, client, issuer, fakeURL in
            try await body(app, client, issuer, fakes, fakeURL)
        }
    }

    func slackPost(_ client: any TestClientProtocol, _ body: String, retry: Int? = nil) async throws -> TestResponse {
        let timestamp = String(Int(Date().timeIntervalSince1970))
        let signature =
            "v0=" + HMACSigner.sha256Hex(secret: Self.slackSecret, message: Array("v0:\(timestamp):\(body)".utf8))
        var headers: HTTPFields = [
            .contentType: "application/json", .slackTimestamp: timestamp, .slackSignature: signature,
        ]
        if let retry { headers[HTTPField.Name("X-Slack-Retry-Num")!] = String(retry) }
        return try await client.execute(
            uri: "/slack/events", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func linearPost(_ client: any TestClientProtocol, _ body: String, delivery: String) async throws -> TestResponse {
        let signature = HMACSigner.sha256Hex(secret: Self.linearSecret, message: Array(body.utf8))
        return try await client.execute(
            uri: "/linear/events", method: .post,
            headers: [
                .contentType: "application/json", .linearSignature: signature, .linearDelivery: delivery,
                .linearEvent: "AgentSessionEvent",
            ], body: ByteBuffer(string: body))
    }

    func statuses(_ app: ConnectorsTestApp) async throws -> [String] {
        try await app.sql { sql in
            var statuses = [String]()
            for try await status in try await sql.query(#"SELECT "status" FROM "webhookEvent" ORDER BY "id""#).decode(
                String.self)
            { statuses.append(status) }
            return statuses
        }
    }

    static func mention(
        id: String, text: String = "<@U0BOT> what changed today?", bot: Bool = false, user: String = "U0HUMAN",
        userTeam: String? = nil
    ) -> String {
        let botField = bot ? #","bot_id":"B0BOT""# : ""
        let teamField = userTeam.map { #","user_team":"\#($0)""# } ?? ""
        return
            #"{"token":"x","team_id":"T0ACME","api_app_id":"A0APP","type":"event_callback","event_id":"\#(id)","event_time":1700000000,"event":{"type":"app_mention","user":"\#(user)","text":"\#(text)","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"\#(botField)\#(teamField)}}"#
    }

    func runUsers(_ app: ConnectorsTestApp) async throws -> [String] {
        try await app.sql { sql in
            var users = [String]()
            for try await user in try await sql.query(#"SELECT "userId" FROM "agentRun" ORDER BY "createdAt""#)
                .decode(String.self)
            { users.append(user) }
            return users
        }
    }

    @Test func aSlackMentionGetsExactlyOneThreadedReplyThroughRetries() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0HUMAN")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.text("Two PRs merged.")], stopReason: "end_turn", inputTokens: 3, outputTokens: 4)
            ])
            for retry in [nil, 1, 2, 3] {
                #expect(try await slackPost(client, Self.mention(id: "EvMENTION1"), retry: retry).status == .ok)
            }
            #expect(try await slackPost(client, Self.mention(id: "EvBOT1", bot: true)).status == .ok)
            try await eventually("both events handled") {
                let now = try await statuses(app)
                return now.count == 2 && now.allSatisfy { $0 == "done" || $0 == "skipped" }
            }
            #expect(try await statuses(app) == ["done", "skipped"])
            let posted = fakes.apis.posted.get()
            #expect(posted.count == 1)
            #expect(posted.first?.channel == "C1")
            #expect(posted.first?.thread == "1700000000.000100")
            #expect(posted.first?.text == "Two PRs merged.")
            #expect(
                fakes.apis.calls.get().filter { $0.operation == "chat.postMessage" }.map(\.token) == ["xoxb-user-1"])
            let prompts = fakes.claude.received.get().map {
                (($0.messages.first?["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            }
            #expect(prompts == ["what changed today?"])

            // Handled again (a retry after a crash, say): the answer was delivered, so nothing more.
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "webhookEvent" SET "status" = 'pending' WHERE "deliveryKey" = 'EvMENTION1'"#)
            }
            try await eventually("handled again") { try await statuses(app) == ["done", "skipped"] }
            #expect(fakes.apis.posted.get().count == 1)
            #expect(fakes.claude.received.get().count == 1)
        }
    }

    /// The run finished but posting its answer failed: the retry posts the stored answer and
    /// does not run (or act) again.
    @Test func anAnswerThatCouldNotBePostedIsPostedOnRetryWithoutASecondRun() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0HUMAN")
            fakes.apis.refusePosts.set(1)
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.text("Posted on the second try.")], stopReason: "end_turn", inputTokens: 1,
                    outputTokens: 1)
            ])
            #expect(try await slackPost(client, Self.mention(id: "EvPOSTFAIL")).status == .ok)
            try await eventually("the event done") { try await statuses(app) == ["done"] }
            #expect(fakes.apis.posted.get().map(\.text) == ["Posted on the second try."])
            #expect(fakes.apis.calls.get().filter { $0.operation == "chat.postMessage" }.count == 2)
            #expect(fakes.claude.received.get().count == 1)
            let runs = try await app.sql { sql in
                for try await count in try await sql.query(#"SELECT count(*)::int FROM "agentRun""#).decode(Int.self) {
                    return count
                }
                return -1
            }
            #expect(runs == 1)
        }
    }

    @Test func aFailedRunIsAnsweredWithAShortErrorInTheThread() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0HUMAN")
            fakes.claude.script.set([.error(status: 400, type: "invalid_request_error", message: "prompt is too long")])
            #expect(try await slackPost(client, Self.mention(id: "EvFAIL1")).status == .ok)
            try await eventually("a reply") { !fakes.apis.posted.get().isEmpty }
            #expect(fakes.apis.posted.get().first?.text.hasPrefix("Sorry, I could not finish that") == true)
            #expect(fakes.apis.posted.get().first?.text.contains("prompt is too long") == true)
        }
    }

    @Test func aLinearAgentSessionGetsAThoughtActionsAndAResponse() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1",
                providerUserId: "lin-user-1")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_1", "linear_search_issues", ["query": "crash"])],
                    stopReason: "tool_use", inputTokens: 1, outputTokens: 1),
                .message(
                    [FakeAnthropic.text("ENG-1 is the crash; it is in Todo.")], stopReason: "end_turn", inputTokens: 1,
                    outputTokens: 1),
            ])
            let now = Int(Date().timeIntervalSince1970 * 1000)
            let body =
                #"{"type":"AgentSessionEvent","action":"created","createdAt":"2026-11-25T00:00:00.000Z","organizationId":"org-acme","oauthClientId":"c","appUserId":"app-user","webhookId":"wh-1","webhookTimestamp":\#(now),"agentSession":{"id":"sess-1","creatorId":"lin-user-1","issue":{"id":"iss-1","identifier":"ENG-1","title":"Crash on start"}},"promptContext":"<issue identifier=\"ENG-1\"><title>Crash on start</title></issue> Which issue is the crash?"}"#
            let response = try await linearPost(client, body, delivery: "delivery-sess-1")
            #expect(response.status == .ok)
            try await eventually("the session answered") { fakes.apis.activities.get().count == 3 }
            let activities = fakes.apis.activities.get()
            #expect(activities.map(\.session) == ["sess-1", "sess-1", "sess-1"])
            #expect(activities.map { $0.content["type"] } == ["thought", "action", "response"])
            #expect(activities[1].content["action"] == "linear_search_issues")
            // The tool and its target only: the query and the result stay out of the session.
            #expect(activities[1].content["parameter"] == "search")
            #expect(activities[1].content["result"] == "Done")
            #expect(activities[2].content["body"] == "ENG-1 is the crash; it is in Todo.")
            #expect(Set(fakes.apis.calls.get().map(\.token)) == ["lin-token-user-1"])
            let prompt =
                (fakes.claude.received.get().first?.messages.first?["content"] as? [[String: Any]])?.first?["text"]
                as? String
            #expect(prompt?.contains("Which issue is the crash?") == true)
            try await eventually("event done") { try await statuses(app) == ["done"] }
        }
    }

    // MARK: Who acts

    @Test func eachPersonInAWorkspaceRunsAsThemselvesAndAStrangerIsToldHowToConnect() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1",
                providerUserId: "U0ADA")
            try await app.insertConnection(
                userId: "user-2", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-2",
                providerUserId: "U0BOB")
            fakes.claude.script.set(
                (0..<2).map { _ in
                    .message([FakeAnthropic.text("Answered.")], stopReason: "end_turn", inputTokens: 1, outputTokens: 1)
                })
            // Ada's connection was refreshed last: that must not make her the one who acts.
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "connection" SET "updatedAt" = now() + interval '1 hour' WHERE "userId" = 'user-1'"#)
            }
            #expect(try await slackPost(client, Self.mention(id: "EvBOB", user: "U0BOB")).status == .ok)
            try await eventually("Bob's run answered") { try await statuses(app) == ["done"] }
            #expect(try await runUsers(app) == ["user-2"])
            #expect(
                fakes.apis.calls.get().filter { $0.operation == "chat.postMessage" }.map(\.token) == ["xoxb-user-2"])

            #expect(try await slackPost(client, Self.mention(id: "EvADA", user: "U0ADA")).status == .ok)
            try await eventually("Ada's run answered") { try await statuses(app) == ["done", "done"] }
            #expect(try await runUsers(app) == ["user-2", "user-1"])

            // Someone nobody connected: told privately how to connect; no run, no model call.
            #expect(try await slackPost(client, Self.mention(id: "EvEVE", user: "U0EVE")).status == .ok)
            try await eventually("the stranger's event handled") {
                try await statuses(app) == ["done", "done", "skipped"]
            }
            let told = fakes.apis.ephemeral.get()
            #expect(told.count == 1)
            #expect(told.first?.user == "U0EVE" && told.first?.channel == "C1")
            #expect(told.first?.text.contains("https://connectors.test/connections") == true)
            // A Slack Connect user from another workspace, even with a known id: nothing.
            #expect(
                try await slackPost(client, Self.mention(id: "EvEXT", user: "U0BOB", userTeam: "T0OTHER")).status
                    == .ok)
            try await eventually("the outsider's event handled") {
                try await statuses(app) == ["done", "done", "skipped", "skipped"]
            }
            #expect(try await runUsers(app).count == 2)
            #expect(fakes.claude.received.get().count == 2)
            #expect(fakes.apis.ephemeral.get().count == 1)
        }
    }

    @Test func aLinearSessionFromSomeoneNobodyConnectedGetsAResponseAndNoRun() async throws {
        try await withTriggers { app, client, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1",
                providerUserId: "lin-user-1")
            let now = Int(Date().timeIntervalSince1970 * 1000)
            let body =
                #"{"type":"AgentSessionEvent","action":"created","createdAt":"2026-11-25T00:00:00.000Z","organizationId":"org-acme","oauthClientId":"c","appUserId":"app-user","webhookId":"wh-2","webhookTimestamp":\#(now),"agentSession":{"id":"sess-2","creatorId":"lin-stranger","issue":{"id":"iss-2","identifier":"ENG-2","title":"Something"}},"promptContext":"Please look."}"#
            let response = try await linearPost(client, body, delivery: "delivery-sess-2")
            #expect(response.status == .ok)
            try await eventually("the event handled") { try await statuses(app) == ["skipped"] }
            let activities = fakes.apis.activities.get()
            #expect(activities.map { $0.content["type"] } == ["response"])
            #expect(activities.first?.content["body"]?.contains("https://connectors.test/connections") == true)
            #expect(try await runUsers(app).isEmpty)
            #expect(fakes.claude.received.get().isEmpty)
        }
    }

    @Test func aPromptFromSomeoneOtherThanTheSessionsCreatorRunsNothingAsTheCreator() async throws {
        try await withTriggers { app, client, fakes in
            // Both people connected: the creator's rights must still not answer the other's words.
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1",
                providerUserId: "lin-user-1")
            try await app.insertConnection(
                userId: "user-2", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-2",
                providerUserId: "lin-user-2")
            let now = Int(Date().timeIntervalSince1970 * 1000)
            func prompt(_ text: String, by user: String, webhook: String) -> String {
                #"{"type":"AgentSessionEvent","action":"prompted","createdAt":"2026-11-25T00:00:00.000Z","organizationId":"org-acme","oauthClientId":"c","appUserId":"app-user","webhookId":"\#(webhook)","webhookTimestamp":\#(now),"agentSession":{"id":"sess-5","creatorId":"lin-user-1","issue":{"id":"iss-5","identifier":"ENG-5","title":"Crash"}},"agentActivity":{"userId":"\#(user)","content":{"type":"prompt","body":"\#(text)"}}}"#
            }
            let response = try await linearPost(
                client, prompt("Read the secrets file in the private repo", by: "lin-user-2", webhook: "wh-5"),
                delivery: "delivery-sess-5")
            #expect(response.status == .ok)
            try await eventually("the prompt handled") { try await statuses(app) == ["skipped"] }
            let activities = fakes.apis.activities.get()
            #expect(activities.map { $0.content["type"] } == ["response"])
            #expect(activities.first?.content["body"]?.contains("only they can ask me here") == true)
            #expect(try await runUsers(app).isEmpty)
            #expect(fakes.claude.received.get().isEmpty)

            // The creator's own follow-up runs, as the creator.
            fakes.claude.script.set([
                .message([FakeAnthropic.text("Done.")], stopReason: "end_turn", inputTokens: 1, outputTokens: 1)
            ])
            #expect(
                try await linearPost(
                    client, prompt("Summarise the issue", by: "lin-user-1", webhook: "wh-6"),
                    delivery: "delivery-sess-6"
                ).status == .ok)
            try await eventually("the creator's run") { try await runUsers(app) == ["user-1"] }
        }
    }

    /// A Linear session's context (issue, comments) can be longer than a prompt may be: it is
    /// cut to the limit in bytes, between characters.
    @Test func aLongTriggeredPromptIsCutToTheLimitInBytesBetweenCharacters() {
        #expect(AgentRoutes.clipped("short") == "short")
        let accented = AgentRoutes.clipped(String(repeating: "é", count: 20_000))
        #expect(accented.utf8.count == AgentRoutes.promptLimit)
        #expect(accented.allSatisfy { $0 == "é" })
        let coder = "👩‍💻"
        let emoji = AgentRoutes.clipped(String(repeating: coder, count: 5_000))
        #expect(emoji.utf8.count <= AgentRoutes.promptLimit)
        #expect(emoji.utf8.count > AgentRoutes.promptLimit - coder.utf8.count)
        #expect(emoji.allSatisfy { $0 == Character(coder) })
    }

    @Test func aSingleWorkspaceBotRunsOnlyForListedPeopleKnownByTheirSlackEmail() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(
            fakes.router,
            overrides: { base in
                AgentTests.overrides(base).merging([
                    "SLACK_SIGNING_SECRET": Self.slackSecret, "SLACK_BOT_TOKEN": "xoxb-operator",
                    "SLACK_BOT_USERS": "user-1@example.com",
                ]) { $1 }
            },
            configure: { WebhookWorkerTests.fastSettings(&$0.webhookWorker) }
        ) { app, client, _, _ in
            // Connected through the operator's bot: no Slack identity on the connections.
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-operator")
            try await app.insertConnection(
                userId: "user-2", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-operator")
            fakes.apis.slackEmails.set(["U0ADA": "user-1@example.com", "U0BOB": "user-2@example.com"])
            fakes.claude.script.set([
                .message([FakeAnthropic.text("Answered.")], stopReason: "end_turn", inputTokens: 1, outputTokens: 1)
            ])
            #expect(try await slackPost(client, Self.mention(id: "EvSWADA", user: "U0ADA")).status == .ok)
            try await eventually("Ada's run") { try await statuses(app) == ["done"] }
            #expect(try await runUsers(app) == ["user-1"])
            // Slack vouched for who Ada is there: her connection now says so (the tools narrow the
            // operator's bot to her conversations with it); Bob's, not yet proven, does not.
            let identities = try await app.sql { sql in
                var found = [String: String]()
                for try await (user, identity) in try await sql.query(
                    #"SELECT "userId", coalesce("providerUserId", '-') FROM "connection" WHERE "provider" = 'slack'"#
                ).decode((String, String).self) { found[user] = identity }
                return found
            }
            #expect(identities == ["user-1": "U0ADA", "user-2": "-"])
            let recorded = try await app.sql { sql in
                var actions = [String]()
                for try await (action, actor) in try await sql.query(
                    #"SELECT "action", "actor" FROM "auditEvent" WHERE "userId" = 'user-1' AND "action" LIKE 'connection.%'"#
                ).decode((String, String?).self) { actions.append("\(action) \(actor ?? "")") }
                return actions
            }
            #expect(recorded == ["connection.identity_recorded slack:U0ADA"])
            // Bob has a verified account and a connection, but is not listed: told, not run.
            #expect(try await slackPost(client, Self.mention(id: "EvSWBOB", user: "U0BOB")).status == .ok)
            try await eventually("Bob's event") { try await statuses(app) == ["done", "skipped"] }
            #expect(fakes.apis.ephemeral.get().map(\.user) == ["U0BOB"])
            #expect(try await runUsers(app) == ["user-1"])
        }
    }

    @Test func aPersonWithTwoWorkspacesNamesOneAndATriggeredRunUsesItsOwn() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(
            fakes.router,
            overrides: { base in
                AgentTests.overrides(base).merging(["SLACK_SIGNING_SECRET": Self.slackSecret]) { $1 }
            },
            configure: { WebhookWorkerTests.fastSettings(&$0.webhookWorker) }
        ) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-acme",
                providerUserId: "U0ADA")
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0BETA", accessToken: "xoxb-beta",
                providerUserId: "U0ADA2")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_1", "slack_list_channels", ["account": "T0BETA"])],
                    stopReason: "tool_use", inputTokens: 1, outputTokens: 1),
                .message([FakeAnthropic.text("Listed.")], stopReason: "end_turn", inputTokens: 1, outputTokens: 1),
                // The triggered run (from T0ACME): no account named, the event's workspace is used.
                .message(
                    [FakeAnthropic.toolUse("toolu_2", "slack_list_channels", [:])], stopReason: "tool_use",
                    inputTokens: 1, outputTokens: 1),
                .message([FakeAnthropic.text("Listed here.")], stopReason: "end_turn", inputTokens: 1, outputTokens: 1),
            ])
            let response = try await client.execute(
                uri: "/agent/run", method: .post,
                headers: [.authorization: "Bearer \(issuer.token(sub: "user-1"))", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"prompt":"list the channels in Beta"}"#))
            #expect(response.status == .ok)
            // The model saw both workspaces as an enum, and had to name one.
            let tools = fakes.claude.received.get().first?.body["tools"] as? [[String: Any]] ?? []
            let schema =
                tools.first { $0["name"] as? String == "slack_list_channels" }?["input_schema"] as? [String: Any]
            let account = (schema?["properties"] as? [String: Any])?["account"] as? [String: Any]
            #expect(Set(account?["enum"] as? [String] ?? []) == ["T0ACME", "T0BETA"])
            #expect((schema?["required"] as? [String])?.contains("account") == true)
            #expect(
                fakes.apis.calls.get().filter { $0.operation == "conversations.list" }.map(\.token) == ["xoxb-beta"])

            #expect(try await slackPost(client, Self.mention(id: "EvACME", user: "U0ADA")).status == .ok)
            try await eventually("the mention answered") { try await statuses(app) == ["done"] }
            #expect(
                fakes.apis.calls.get().filter { $0.operation == "conversations.list" }.map(\.token) == [
                    "xoxb-beta", "xoxb-acme",
                ])
            let triggered = fakes.claude.received.get()[2].body["tools"] as? [[String: Any]] ?? []
            let pinned =
                triggered.first { $0["name"] as? String == "slack_list_channels" }?["input_schema"] as? [String: Any]
            #expect((pinned?["properties"] as? [String: Any])?["account"] == nil)
        }
    }
}
