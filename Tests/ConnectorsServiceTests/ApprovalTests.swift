import DB
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Shared
import MCP
import Testing
import TestSupport

@testable import ConnectorsService

/// Consent from the API: policies per tool, runs that pause before a write and continue once
/// their owner decides (or the approval expires), the audit trail each case leaves, and the
/// limits on what one person may spend.
@Suite struct ApprovalTests {
    typealias Fakes = AgentTests.Fakes

    /// Decisions are seen at once (same process) and expiry within a fifth of a second.
    static func fast(_ config: inout ConnectorsConfig) {
        config.resumer.poll = .milliseconds(200)
    }

    func withAgent<T: Sendable>(
        _ fakes: Fakes = Fakes(), overrides: [String: String] = [:],
        configure: @escaping @Sendable (inout ConnectorsConfig) -> Void = { _ in },
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol, TestTokenIssuer, Fakes) async throws -> T
    ) async throws -> T {
        try await AgentTests().withAgent(
            fakes, overrides: overrides,
            configure: { config in
                Self.fast(&config)
                configure(&config)
            }, body)
    }

    static func createIssueScript(_ claude: FakeAnthropic, answer: String = "Created ENG-2.") {
        claude.script.set([
            .message(
                [
                    FakeAnthropic.text("Creating it."),
                    FakeAnthropic.toolUse(
                        "toolu_w", "linear_create_issue", ["teamId": "team-1", "title": "Crash on start"]),
                ], stopReason: "tool_use", inputTokens: 10, outputTokens: 5),
            .message([FakeAnthropic.text(answer)], stopReason: "end_turn", inputTokens: 20, outputTokens: 6),
        ])
    }

    static func run(_ client: any TestClientProtocol, _ bearer: String, _ prompt: String = "File the crash.")
        async throws -> TestResponse
    {
        try await AgentTests().run(client, bearer, #"{"prompt":"\#(prompt)"}"#)
    }

    static func decide(_ client: any TestClientProtocol, _ bearer: String, _ id: String, _ decision: String)
        async throws -> TestResponse
    {
        try await client.execute(
            uri: "/agent/approvals/\(id)", method: .post,
            headers: [.authorization: "Bearer \(bearer)", .contentType: "application/json"],
            body: ByteBuffer(string: #"{"decision":"\#(decision)"}"#))
    }

    /// The run once it has stopped running and waiting.
    static func finished(_ client: any TestClientProtocol, _ bearer: String, _ id: String) async throws -> [String: Any]
    {
        try await eventually("run \(id) finished") {
            let status = try await client.get("/agent/runs/\(id)", bearer: bearer).json["status"] as? String
            return status == "completed" || status == "failed"
        }
        return try await client.get("/agent/runs/\(id)", bearer: bearer).json
    }

    static func auditActions(_ client: any TestClientProtocol, _ bearer: String) async throws -> [String] {
        let events = try await client.get("/audit", bearer: bearer).json["events"] as? [[String: Any]] ?? []
        return events.compactMap { $0["action"] as? String }
    }

    static func issueCreates(_ fakes: Fakes) -> Int {
        fakes.apis.calls.get().filter { $0.operation == "issueCreate" }.count
    }

    /// The tool results Claude received in its request number `index` (0-based).
    static func toolResults(_ fakes: Fakes, request index: Int) -> [[String: Any]] {
        let messages = fakes.claude.received.get()[index].messages
        return messages.last?["content"] as? [[String: Any]] ?? []
    }

    /// What a tool was asked reaches the trail and the approval prompt as a summary; a token
    /// pasted into the request must not.
    @Test func inputSummariesNeverCarryATokenShapedString() throws {
        let secrets = [
            "xoxb-1234-5678-abcdEFGH", "xoxp-1-2-3-abc", "xoxe.xoxp-1-Mi0yLTEx", "xoxe-1-My0xLTE2",
            "xapp-1-A0-123-abc", "ghp_abcdefABCDEF0123456789", "ghu_abc123", "github_pat_11AAA_bbb",
            "lin_api_0123abcd", "lin_oauth_0123abcd", "sk-ant-api03-abc_def",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl",
        ]
        for secret in secrets {
            let summary = ToolTarget.summary(
                .object(["body": .string("use \(secret) please"), "title": .string("Bug")]))
            #expect(!summary.contains(secret), "\(secret)")
            #expect(summary.contains("[redacted]") && summary.contains("Bug"), "\(summary)")
        }
        // Ordinary words that merely start alike stay.
        #expect(ToolTarget.summary(.object(["title": .string("eyeball the ghost")])).contains("eyeball the ghost"))

        // The target is what the caller sent, schema or not: masked, no control characters (a
        // NUL would lose the audit row), bounded, and a number past Int's range does not trap.
        #expect(ToolTarget.describe(["repo": "acme/app", "number": 7]) == "acme/app#7")
        #expect(ToolTarget.describe(["repo": "acme/app", "number": .double(1e300)]) == "acme/app#1e+300")
        #expect(ToolTarget.describe(["channel": "C1\u{0}\n"]) == "channel C1")
        #expect(ToolTarget.describe(["repo": .string("ghp_abcdefABCDEF0123456789")]) == "[redacted]")
        let long = try #require(ToolTarget.describe(["repo": .string(String(repeating: "r", count: 5_000))]))
        #expect(long.count == 200)
    }

    @Test func anAskToolPausesAndApprovalMakesExactlyOneCall() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            let bearer = issuer.token(sub: "user-1")
            let other = issuer.token(sub: "user-2")
            Self.createIssueScript(fakes.claude)
            let paused = try await Self.run(client, bearer)
            #expect(paused.status == .ok)
            #expect(paused.json["status"] as? String == "awaiting_approval")
            let approvals = try #require(paused.json["approvals"] as? [[String: Any]])
            #expect(approvals.count == 1)
            let approval = approvals[0]
            let id = try #require(approval["id"] as? String)
            #expect(approval["runId"] as? String == paused.json["id"] as? String)
            #expect(approval["tool"] as? String == "linear_create_issue")
            #expect((approval["input"] as? [String: Any])?["title"] as? String == "Crash on start")
            #expect(approval["createdAt"] is String && approval["expiresAt"] is String)
            // Paused before the call: nothing reached Linear, and Claude was asked once.
            #expect(Self.issueCreates(fakes) == 0)
            #expect(fakes.claude.received.get().count == 1)

            // Listed for its owner only; another user can neither see nor decide it.
            let listed = try await client.get("/agent/approvals", bearer: bearer).json["approvals"] as? [[String: Any]]
            #expect(listed?.compactMap { $0["id"] as? String } == [id])
            #expect(
                (try await client.get("/agent/approvals", bearer: other).json["approvals"] as? [Any])?.isEmpty == true)
            let foreign = try await Self.decide(client, other, id, "approve")
            #expect(foreign.status == .notFound)
            #expect(try await Self.decide(client, bearer, id, "maybe").status == .badRequest)

            let approved = try await Self.decide(client, bearer, id, "approve")
            #expect(approved.status == .ok)
            #expect(approved.json["status"] as? String == "approved")
            let runId = try #require(paused.json["id"] as? String)
            let done = try await Self.finished(client, bearer, runId)
            #expect(done["status"] as? String == "completed")
            #expect(done["output"] as? String == "Created ENG-2.")
            #expect((done["steps"] as? [[String: Any]])?.map { $0["isError"] as? Bool } == [false])
            #expect(done["usage"] as? [String: Int] == ["inputTokens": 30, "outputTokens": 11])
            #expect(Self.issueCreates(fakes) == 1)
            #expect(fakes.apis.calls.get().first { $0.operation == "issueCreate" }?.token == "lin-token-user-1")
            // The model's next turn carried the call's result.
            let result = try #require(Self.toolResults(fakes, request: 1).first)
            #expect(result["tool_use_id"] as? String == "toolu_w")
            #expect(result["is_error"] == nil)
            #expect((result["content"] as? String)?.contains("ENG-2") == true)

            // Once only.
            let again = try await Self.decide(client, bearer, id, "deny")
            #expect(again.status == .conflict)
            #expect(again.errorCode == "ALREADY_DECIDED")
            #expect(Self.issueCreates(fakes) == 1)
            #expect(
                (try await client.get("/agent/approvals", bearer: bearer).json["approvals"] as? [Any])?.isEmpty == true)

            // On the record: the decision, then the call — and nothing for the other user.
            #expect(try await Self.auditActions(client, bearer) == ["tool.call", "approval.approved"])
            let events = try await client.get("/audit", bearer: bearer).json["events"] as? [[String: Any]] ?? []
            let call = try #require(events.first)
            #expect(call["tool"] as? String == "linear_create_issue")
            #expect(call["target"] as? String == "team team-1")
            #expect(call["surface"] as? String == "api")
            #expect(call["runId"] as? String == runId)
            #expect(call["outcome"] as? String == "ok")
            #expect((call["inputSummary"] as? String)?.contains("Crash on start") == true)
            #expect(call["durationMs"] is Int)
            #expect(events.last?["decidedBy"] as? String == "user")
            #expect(try await Self.auditActions(client, other).isEmpty)
        }
    }

    @Test func aDeniedCallIsNeverMadeAndTheModelIsToldSo() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
            let bearer = issuer.token(sub: "user-1")
            Self.createIssueScript(fakes.claude, answer: "Understood, I did not create it.")
            let paused = try await Self.run(client, bearer)
            let id = try #require((paused.json["approvals"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await Self.decide(client, bearer, id, "deny").status == .ok)
            let done = try await Self.finished(client, bearer, try #require(paused.json["id"] as? String))
            #expect(done["status"] as? String == "completed")
            #expect((done["steps"] as? [[String: Any]])?.map { $0["isError"] as? Bool } == [true])
            #expect(Self.issueCreates(fakes) == 0)
            let result = try #require(Self.toolResults(fakes, request: 1).first)
            #expect(result["is_error"] as? Bool == true)
            #expect((result["content"] as? String)?.contains("declined") == true)
            #expect(try await Self.auditActions(client, bearer) == ["approval.denied"])
            #expect(try await Self.decide(client, bearer, id, "approve").status == .conflict)
        }
    }

    @Test func anApprovalNobodyAnswersExpiresAsADenial() async throws {
        try await withAgent(configure: { $0.approvalTimeout = .seconds(1) }) { app, client, issuer, fakes in
            try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
            let bearer = issuer.token(sub: "user-1")
            Self.createIssueScript(fakes.claude, answer: "It was not approved in time.")
            let paused = try await Self.run(client, bearer)
            #expect(paused.json["status"] as? String == "awaiting_approval")
            let id = try #require((paused.json["approvals"] as? [[String: Any]])?.first?["id"] as? String)
            let done = try await Self.finished(client, bearer, try #require(paused.json["id"] as? String))
            #expect(done["status"] as? String == "completed")
            #expect(Self.issueCreates(fakes) == 0)
            let result = try #require(Self.toolResults(fakes, request: 1).first)
            #expect(result["is_error"] as? Bool == true)
            #expect((result["content"] as? String)?.contains("in time") == true)
            let decided = try await Self.decide(client, bearer, id, "approve")
            #expect(decided.status == .conflict)
            #expect(Self.issueCreates(fakes) == 0)
            let events = try await client.get("/audit", bearer: bearer).json["events"] as? [[String: Any]] ?? []
            #expect(events.compactMap { $0["action"] as? String } == ["approval.expired"])
            #expect(events.first?["surface"] as? String == "system")
            #expect(events.first?["decidedBy"] as? String == "expiry")
        }
    }

    @Test func aPausedRunSurvivesARestartAndCompletesAfterApproval() async throws {
        let fakes = Fakes()
        let jwks = FakeJWKS(issuer: try TestTokenIssuer())
        let bearer = jwks.issuer.token(sub: "user-1")
        try await withFakeServer(fakes.router) { fakeURL in
            try await withFakeServer(jwks.router) { jwksURL in
                let app = try await ConnectorsTestApp.make(
                    overrides: AgentTests.overrides(fakeURL).merging(["AUTH_JWKS_URL": jwksURL + "/jwks.json"]) { $1 },
                    configure: { Self.fast(&$0) })
                try await app.insertUser("user-1")
                try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
                Self.createIssueScript(fakes.claude)
                let (runId, approvalId) = try await app.test { client in
                    let paused = try await Self.run(client, bearer)
                    #expect(paused.json["status"] as? String == "awaiting_approval")
                    return (
                        try #require(paused.json["id"] as? String),
                        try #require((paused.json["approvals"] as? [[String: Any]])?.first?["id"] as? String)
                    )
                }
                // The first service has stopped; a new one on the same database takes the decision.
                try await app.test { client in
                    let status = try await client.get("/agent/runs/\(runId)", bearer: bearer).json["status"]
                    #expect(status as? String == "awaiting_approval")
                    #expect(try await Self.decide(client, bearer, approvalId, "approve").status == .ok)
                    let done = try await Self.finished(client, bearer, runId)
                    #expect(done["status"] as? String == "completed")
                    #expect(done["output"] as? String == "Created ENG-2.")
                }
                #expect(Self.issueCreates(fakes) == 1)
            }
        }
    }

    @Test func aResumedRunWhoseProcessDiedIsTakenUpAgainAndTheDeadOneChangesNothing() async throws {
        // No resumer slots: this test plays the resumers.
        try await withAgent(configure: { $0.resumer.concurrency = 0 }) { app, client, issuer, fakes in
            try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
            Self.createIssueScript(fakes.claude)
            let paused = try await Self.run(client, issuer.token(sub: "user-1"))
            let id = try #require((paused.json["approvals"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await Self.decide(client, issuer.token(sub: "user-1"), id, "approve").status == .ok)
            try await app.sql { sql in
                let runs = AgentRunRepository(postgres: Postgres(sql), logger: Logger(label: "resume-test"))
                let first = try #require(
                    try await runs.claimResumable(worker: "w", limit: 5, lease: .seconds(60), limits: .init()).first)
                #expect(
                    try await runs.claimResumable(worker: "w", limit: 5, lease: .seconds(60), limits: .init()).isEmpty)
                // Its process dies: the lease runs out and the run waits again, decisions kept.
                try await sql.query(#"UPDATE "agentRun" SET "lockedUntil" = now() - interval '1 second'"#)
                try await runs.reclaimStale()
                let second = try #require(
                    try await runs.claimResumable(worker: "w", limit: 5, lease: .seconds(60), limits: .init()).first)
                #expect(second.id == first.id && second.owner != first.owner)
                #expect(second.state?.calls.first?.approvalId == id)
                var dead = first
                dead.status = .failed
                #expect(try await runs.finish(dead) == false)
                var live = second
                live.status = .completed
                #expect(try await runs.finish(live) == true)
            }
            let stored = try await client.get(
                "/agent/runs/\(try #require(paused.json["id"] as? String))", bearer: issuer.token(sub: "user-1"))
            #expect(stored.json["status"] as? String == "completed")
        }
    }

    /// Approving many paused runs at once must not run them all at once: a resumed run waits
    /// while its person, or its workspace, runs as many as a start would be allowed.
    @Test func resumedRunsWaitForThePersonsAndTheWorkspacesLimits() async throws {
        try await withAgent(configure: { $0.resumer.concurrency = 0 }) { app, _, _, _ in
            try await app.sql { sql in
                func run(
                    _ id: String, _ user: String, _ status: String, workspace: String? = nil,
                    approval: String = "approved",
                    minutesAgo: Int
                ) async throws {
                    try await sql.query(
                        """
                        INSERT INTO "agentRun" ("id", "userId", "status", "prompt", "workspace", "lockedUntil", "updatedAt")
                        VALUES (\(id), \(user), \(status), 'p', \(workspace), now() + interval '60 seconds',
                            now() - make_interval(mins => \(Int32(minutesAgo))))
                        """)
                    guard status == "awaiting_approval" else { return }
                    try await sql.query(
                        """
                        INSERT INTO "agentApproval" ("id", "runId", "userId", "toolUseId", "tool", "input", "status", "expiresAt")
                        VALUES (\("approval-" + id), \(id), \(user), 'toolu', 'linear_create_issue', '{}', \(approval),
                            now() + interval '1 hour')
                        """)
                }
                try await run("running-1", "user-1", "running", workspace: "T1", minutesAgo: 10)
                try await run("paused-1a", "user-1", "awaiting_approval", minutesAgo: 9)
                try await run("paused-1b", "user-1", "awaiting_approval", minutesAgo: 8)
                try await run("paused-2-t1", "user-2", "awaiting_approval", workspace: "T1", minutesAgo: 7)
                try await run("paused-2", "user-2", "awaiting_approval", minutesAgo: 6)
                try await run("undecided-2", "user-2", "awaiting_approval", approval: "pending", minutesAgo: 5)
                let runs = AgentRunRepository(postgres: Postgres(sql), logger: Logger(label: "resume-test"))
                let limits = AgentRunRepository.Limits(dailyTokens: 0, concurrentRuns: 2, workspaceRuns: 1)
                func claim() async throws -> Set<String> {
                    Set(
                        try await runs.claimResumable(worker: "w", limit: 10, lease: .seconds(60), limits: limits).map(
                            \.id))
                }
                // One per person per claim; workspace T1 already runs its one.
                #expect(try await claim() == ["paused-1a", "paused-2"])
                // user-1 now runs two, user-2's other run waits for T1, and one is undecided.
                #expect(try await claim() == [])
                try await sql.query(#"UPDATE "agentRun" SET "status" = 'completed' WHERE "id" = 'running-1'"#)
                #expect(try await claim() == ["paused-1b", "paused-2-t1"])
            }
        }
    }

    /// A paused run whose tools are gone by the time it goes on (the connection removed) still
    /// shows the model the tools its conversation used — the API requires them defined while the
    /// history holds their calls — and lets it call none.
    @Test func aRunContinuedAfterItsToolsWentListsThemAndMayCallNone() async throws {
        try await withAgent { app, client, issuer, fakes in
            let connection = try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            let bearer = issuer.token(sub: "user-1")
            Self.createIssueScript(fakes.claude, answer: "Linear is no longer connected.")
            let paused = try await Self.run(client, bearer)
            let id = try #require((paused.json["approvals"] as? [[String: Any]])?.first?["id"] as? String)
            let removed = try await client.execute(
                uri: "/oauth/connections/\(connection)", method: .delete, headers: [.authorization: "Bearer \(bearer)"])
            #expect(removed.status == .noContent)
            #expect(try await Self.decide(client, bearer, id, "approve").status == .ok)
            let done = try await Self.finished(client, bearer, try #require(paused.json["id"] as? String))
            #expect(done["status"] as? String == "completed")
            #expect(done["output"] as? String == "Linear is no longer connected.")
            let resumed = try #require(fakes.claude.received.get().last)
            #expect(resumed.toolNames == ["linear_create_issue"])
            #expect(resumed.body["tool_choice"] as? [String: String] == ["type": "none"])
            #expect(Self.issueCreates(fakes) == 0)
        }
    }

    @Test func aStreamedRunSaysItWaitsAndGoesOnOnceApproved() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
            let bearer = issuer.token(sub: "user-1")
            fakes.claude.script.set([
                .message(
                    [
                        FakeAnthropic.toolUse(
                            "toolu_w", "linear_create_issue", ["teamId": "team-1", "title": "Crash on start"])
                    ], stopReason: "tool_use", inputTokens: 10, outputTokens: 5),
                .message(
                    [FakeAnthropic.text("Created ENG-2.")], stopReason: "end_turn", inputTokens: 2, outputTokens: 2),
            ])
            async let streamed = withOwnConnection(to: client) { own in
                try await AgentTests().run(own, bearer, #"{"prompt":"File it."}"#, stream: true)
            }
            let listed = SendableBox<String?>(nil)
            try await eventually("the approval is listed") {
                let approvals =
                    try await client.get("/agent/approvals", bearer: bearer).json["approvals"] as? [[String: Any]]
                listed.set(approvals?.first?["id"] as? String)
                return listed.get() != nil
            }
            let approvalId = try #require(listed.get())
            #expect(try await Self.decide(client, bearer, approvalId, "approve").status == .ok)
            let response = try await streamed
            var parser = ServerSentEventParser()
            let events = parser.consume(response.body.readableBytesView)
            // The fake streams a text in pieces: one or more `text` events.
            let names = events.map { $0.event ?? "" }
            #expect(Array(names.prefix(3)) == ["approval", "step", "text"])
            #expect(names.last == "done")
            #expect(Set(names.dropFirst(2).dropLast()) == ["text"])
            let approval = try #require(
                try JSONSerialization.jsonObject(with: Data(events[0].data.utf8)) as? [String: Any])
            #expect((approval["approvals"] as? [[String: Any]])?.first?["id"] as? String == approvalId)
            let done = try #require(
                try JSONSerialization.jsonObject(with: Data(events.last!.data.utf8)) as? [String: Any])
            #expect(done["status"] as? String == "completed")
            #expect(Self.issueCreates(fakes) == 1)
        }
    }

    @Test func policiesHideDenyAndLetAllowRunWithoutAsking() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
            try await app.insertConnection(userId: "user-1", provider: .github, accountId: "9001")
            let bearer = issuer.token(sub: "user-1")
            let initial = try await client.get("/agent/policy", bearer: bearer)
            #expect(initial.status == .ok)
            let tools = try #require(initial.json["tools"] as? [[String: Any]])
            #expect(tools.count == ToolRegistry.all.count)
            let byName = Dictionary(uniqueKeysWithValues: tools.map { ($0["name"] as? String ?? "", $0) })
            #expect(byName["linear_create_issue"]?["policy"] as? String == "ask")
            #expect(byName["linear_create_issue"]?["risk"] as? String == "write")
            #expect(byName["linear_create_issue"]?["provider"] as? String == "linear")
            #expect(byName["linear_create_issue"]?["title"] as? String == "Create a Linear issue")
            #expect(byName["linear_search_issues"]?["policy"] as? String == "allow")
            #expect(byName["linear_search_issues"]?["risk"] as? String == "read")

            func put(_ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/agent/policy", method: .put,
                    headers: [.authorization: "Bearer \(bearer)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
            }
            // All or nothing: one bad entry changes nothing.
            for bad in [
                #"{"policies":{"linear_create_issue":"allow","rm_rf":"deny"}}"#,
                #"{"policies":{"linear_create_issue":"sometimes"}}"#, #"{"policies":{"linear_create_issue":1}}"#,
            ] {
                let refused = try await put(bad)
                #expect(refused.status == .badRequest)
                #expect(refused.errorCode == "VALIDATION_ERROR")
            }
            #expect(try await client.get("/agent/policy", bearer: bearer).body == initial.body)
            #expect(try await Self.auditActions(client, bearer).isEmpty)

            let changed = try await put(#"{"policies":{"linear_create_issue":"allow","github_comment":"deny"}}"#)
            #expect(changed.status == .ok)
            let after = Dictionary(
                uniqueKeysWithValues: (changed.json["tools"] as? [[String: Any]] ?? []).map {
                    ($0["name"] as? String ?? "", $0["policy"] as? String ?? "")
                })
            #expect(after["linear_create_issue"] == "allow")
            #expect(after["github_comment"] == "deny")
            let events = try await client.get("/audit", bearer: bearer).json["events"] as? [[String: Any]] ?? []
            #expect(Set(events.compactMap { $0["tool"] as? String }) == ["linear_create_issue", "github_comment"])
            #expect(events.allSatisfy { $0["action"] as? String == "policy.changed" })
            #expect(events.contains { $0["inputSummary"] as? String == "ask → deny" })

            // allow: the API run makes the call without pausing; deny: the tool is not offered.
            Self.createIssueScript(fakes.claude)
            let run = try await Self.run(client, bearer)
            #expect(run.json["status"] as? String == "completed")
            #expect(Self.issueCreates(fakes) == 1)
            let offered = fakes.claude.received.get()[0].toolNames
            #expect(offered.contains("linear_create_issue") && offered.contains("github_create_issue"))
            #expect(!offered.contains("github_comment"))
        }
    }

    @Test func limitsOnBudgetConcurrencyAndPromptSize() async throws {
        try await withAgent(overrides: ["AGENT_DAILY_TOKEN_BUDGET": "100", "AGENT_MAX_CONCURRENT_RUNS": "2"]) {
            app, client, issuer, fakes in
            let bearer = issuer.token(sub: "user-1")
            let big = String(repeating: "a", count: 33 * 1024)
            let tooLong = try await Self.run(client, bearer, big)
            #expect(tooLong.status == .contentTooLarge)
            #expect(tooLong.errorCode == "PROMPT_TOO_LARGE")

            // Two runs in flight (Claude is slow to answer); a third is refused. The delay only
            // has to outlast sending the third run, with room for a loaded machine.
            fakes.claude.delay.set(.seconds(15))
            async let first = withOwnConnection(to: client) { try await Self.run($0, bearer, "one") }
            async let second = withOwnConnection(to: client) { try await Self.run($0, bearer, "two") }
            try await eventually("two runs in flight") { fakes.claude.received.get().count == 2 }
            let third = try await Self.run(client, bearer, "three")
            #expect(third.status == .tooManyRequests)
            #expect(third.errorCode == "AGENT_BUSY")
            #expect(try await first.status == .ok)
            #expect(try await second.status == .ok)
            fakes.claude.delay.set(.zero)
            #expect(fakes.claude.received.get().count == 2)

            // 2 tokens used; a run of 150 more is allowed to start (under budget), then none.
            fakes.claude.script.set([
                .message([FakeAnthropic.text("Long.")], stopReason: "end_turn", inputTokens: 100, outputTokens: 50)
            ])
            #expect(try await Self.run(client, bearer, "long").json["status"] as? String == "completed")
            let usage = try await client.get("/agent/usage", bearer: bearer).json
            #expect(usage["today"] as? [String: Int] == ["inputTokens": 102, "outputTokens": 52])
            #expect(usage["resetsAt"] is String)
            #expect(usage["budget"] as? Int == 100)
            let over = try await Self.run(client, bearer, "more")
            #expect(over.status == .tooManyRequests)
            #expect(over.errorCode == "AGENT_BUDGET_EXCEEDED")
            let retryAfter = try #require(over.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...86_400).contains(retryAfter))
            #expect(fakes.claude.received.get().count == 3)
            // Someone else's budget is their own.
            #expect(try await Self.run(client, issuer.token(sub: "user-2"), "mine").status == .ok)
        }
    }

    @Test func theRunHistoryPagesNewestFirst() async throws {
        try await withAgent { _, client, issuer, _ in
            let bearer = issuer.token(sub: "user-1")
            var ids = [String]()
            for prompt in ["first", "second", "third"] {
                ids.append(try #require(try await Self.run(client, bearer, prompt).json["id"] as? String))
            }
            let page1 = try await client.get("/agent/runs?limit=2", bearer: bearer).json
            let runs1 = try #require(page1["runs"] as? [[String: Any]])
            #expect(runs1.compactMap { $0["id"] as? String } == [ids[2], ids[1]])
            #expect(runs1.first?["prompt"] as? String == "third")
            #expect(runs1.first?["status"] as? String == "completed")
            let cursor = try #require(page1["nextCursor"] as? String)
            let page2 = try await client.get("/agent/runs?limit=2&cursor=\(cursor)", bearer: bearer).json
            #expect((page2["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[0]])
            #expect(page2["nextCursor"] == nil || page2["nextCursor"] is NSNull)
            #expect(try await client.get("/agent/runs?cursor=nonsense", bearer: bearer).status == .badRequest)
            #expect(try await client.get("/agent/runs?limit=0", bearer: bearer).status == .badRequest)
            let others = try await client.get("/agent/runs", bearer: issuer.token(sub: "user-2")).json
            #expect((others["runs"] as? [Any])?.isEmpty == true)
        }
    }
}
