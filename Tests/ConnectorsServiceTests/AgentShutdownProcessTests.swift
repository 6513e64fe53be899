import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// Agent runs across the end of a process: SIGTERM stops a run that outlasts its grace and
/// records it with its steps; a process killed mid-call leaves a record that keeps the call from
/// being made a second time when the run is taken up again.
@Suite struct AgentShutdownProcessTests {
    /// A database with user-1, their Linear connection and `linear_create_issue` allowed (an API
    /// run makes it without pausing), the fakes, and a way to start `ConnectorsService` on it.
    func withSetup(
        _ body:
            @Sendable (
                ConnectorsTestApp, AgentTests.Fakes, TestTokenIssuer, @Sendable () async throws -> (ChildProcess, Int)
            )
            async throws -> Void
    ) async throws {
        let fakes = AgentTests.Fakes()
        let jwks = FakeJWKS(issuer: try TestTokenIssuer())
        try await withFakeServer(jwks.router) { jwksURL in
            try await withFakeServer(fakes.router) { fakeURL in
                let overrides = AgentTests.overrides(fakeURL).merging([
                    "AUTH_JWKS_URL": jwksURL + "/jwks.json", "AGENT_SHUTDOWN_GRACE_SECONDS": "2",
                ]) { $1 }
                let app = try await ConnectorsTestApp.make(overrides: overrides)
                try await app.insertUser("user-1")
                try await app.insertConnection(
                    userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
                try await app.sql { sql in
                    try await sql.query(
                        #"INSERT INTO "agentToolPolicy" ("userId", "tool", "policy") VALUES ('user-1', 'linear_create_issue', 'allow')"#
                    )
                }
                let start: @Sendable () async throws -> (ChildProcess, Int) = {
                    let port = try FreePort.next()
                    let process = try ServiceBinary("ConnectorsService").start(
                        environment: TestConfig.variables(
                            database: app.database, redis: try TestServers.redisURL(),
                            overrides: overrides.merging(["CONNECTORS_PORT": String(port)]) { $1 }))
                    try await ServiceBinary.waitForHealth(port: port, process: process)
                    return (process, port)
                }
                try await body(app, fakes, jwks.issuer, start)
            }
        }
    }

    /// What `POST /agent/run` answered.
    struct Answer: Sendable {
        let status: String?
        let error: String?
        let tools: [String]
        let errors: [Bool]
    }

    /// `POST /agent/run` to the process.
    func run(port: Int, bearer: String) async throws -> Answer {
        try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(120))) {
            client in
            let response = try await client.post(
                "/agent/run", headers: [.authorization: "Bearer \(bearer)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"prompt":"File the crash."}"#))
            let json =
                (try? JSONSerialization.jsonObject(with: Data((response.body ?? ByteBuffer()).readableBytesView)))
                as? [String: Any] ?? [:]
            let steps = json["steps"] as? [[String: Any]] ?? []
            return Answer(
                status: json["status"] as? String, error: json["error"] as? String,
                tools: steps.compactMap { $0["tool"] as? String }, errors: steps.compactMap { $0["isError"] as? Bool })
        }
    }

    func runRow(_ app: ConnectorsTestApp) async throws -> (
        status: String, error: String?, steps: String, state: String?
    ) {
        try await app.sql { sql in
            for try await row in try await sql.query(
                #"SELECT "status", "error", "steps"::text, "state"::text FROM "agentRun""#
            ).decode((String, String?, String, String?).self) { return row }
            return ("missing", nil, "", nil)
        }
    }

    @Test func sigtermStopsARunThatOutlastsItsGraceAndRecordsWhatItDid() async throws {
        try await withSetup { app, fakes, issuer, start in
            ApprovalTests.createIssueScript(fakes.claude)
            // The second turn (after the issue is made) takes far longer than the grace.
            fakes.claude.delayFrom.set(2)
            fakes.claude.delay.set(.seconds(600))
            let (process, port) = try await start()
            defer { process.stop() }
            let bearer = issuer.token(sub: "user-1")
            async let answered = run(port: port, bearer: bearer)
            try await eventually("the issue made and the next turn asked for") {
                ApprovalTests.issueCreates(fakes) == 1 && fakes.claude.received.get().count == 2
            }
            process.signal(SIGTERM)
            // Stopped within its 2-second grace, not after the 600-second answer.
            #expect(try await process.waitForExit(timeout: .seconds(60)) == 0)
            let answer = try await answered
            #expect(answer.status == "failed")
            #expect(answer.error?.contains("The service was stopped") == true)
            #expect(answer.tools == ["linear_create_issue"] && answer.errors == [false])
            let row = try await runRow(app)
            #expect(row.status == "failed" && row.steps.contains("linear_create_issue"))

            // A new process finds nothing to continue or repeat.
            let (restarted, _) = try await start()
            defer { restarted.stop() }
            try await Task.sleep(for: .seconds(6))  // past the resumer's 5-second look
            #expect(ApprovalTests.issueCreates(fakes) == 1)
            #expect(fakes.claude.received.get().count == 2)
            #expect(try await runRow(app).status == "failed")
        }
    }

    @Test func aCallInFlightWhenTheProcessDiesIsNotMadeAgain() async throws {
        try await withSetup { app, fakes, issuer, start in
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_w", "linear_create_issue", ["teamId": "team-1", "title": "Crash"])],
                    stopReason: "tool_use", inputTokens: 10, outputTokens: 5),
                .message([FakeAnthropic.text("Checked.")], stopReason: "end_turn", inputTokens: 20, outputTokens: 6),
            ])
            fakes.apis.issueCreateDelay.set(.seconds(600))
            let (process, port) = try await start()
            defer { process.stop() }
            let request = Task { try? await run(port: port, bearer: issuer.token(sub: "user-1")) }
            defer { request.cancel() }
            try await eventually("the issue is being made") { ApprovalTests.issueCreates(fakes) == 1 }
            // Recorded before it was made: the stored state names the call as started.
            let recorded = try await runRow(app)
            #expect(recorded.status == "running")
            #expect(
                recorded.state?.contains(#""started": true"#) == true
                    || recorded.state?.contains(#""started":true"#) == true)
            process.signal(SIGKILL)
            _ = try await process.waitForExit(timeout: .seconds(60))
            fakes.apis.issueCreateDelay.set(.zero)
            // The dead process's lease would run for minutes; end it for the test.
            try await app.sql { sql in
                try await sql.query(#"UPDATE "agentRun" SET "lockedUntil" = now() - interval '1 second'"#)
            }
            let (restarted, _) = try await start()
            defer { restarted.stop() }
            try await eventually(timeout: .seconds(60), "the run taken up again and finished") {
                try await runRow(app).status == "completed"
            }
            #expect(ApprovalTests.issueCreates(fakes) == 1)
            // The model was told the call was interrupted, not given a second issue.
            let told = fakes.claude.received.get().last.map { String(describing: $0.messages.last?["content"] ?? "") }
            #expect(told?.contains("interrupted") == true)
            let row = try await runRow(app)
            #expect(row.steps.contains("Interrupted while being made"))
        }
    }
}
