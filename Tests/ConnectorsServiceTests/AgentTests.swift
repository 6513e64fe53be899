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

/// `POST /agent/run` against a scripted fake Claude and fake provider APIs: the tool-use loop,
/// its wire format, retries, limits, errors and whose connections act.
@Suite struct AgentTests {
    struct Fakes: Sendable {
        let claude = FakeAnthropic()
        let apis = FakeToolAPIs()

        var router: Router<BasicRequestContext> {
            let router = Router()
            claude.register(on: router)
            apis.register(on: router)
            return router
        }
    }

    static func overrides(_ base: String) -> [String: String] {
        [
            "ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_MODEL": "claude-test-model", "ANTHROPIC_BASE_URL": base,
            "LINEAR_API_URL": base, "GITHUB_API_URL": base + "/github", "SLACK_API_URL": base + "/slack",
        ]
    }

    func withAgent<T: Sendable>(
        _ fakes: Fakes = Fakes(), overrides extra: [String: String] = [:],
        configure: @escaping @Sendable (inout ConnectorsConfig) -> Void = { _ in },
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol, TestTokenIssuer, Fakes) async throws -> T
    ) async throws -> T {
        try await withProviderFake(
            fakes.router, overrides: { Self.overrides($0).merging(extra) { $1 } },
            configure: { config in
                config.anthropic?.retryBase = .milliseconds(10)
                configure(&config)
            }
        ) { app, client, issuer, _ in
            try await body(app, client, issuer, fakes)
        }
    }

    func run(_ client: any TestClientProtocol, _ bearer: String, _ body: String, stream: Bool = false) async throws
        -> TestResponse
    {
        var headers: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "application/json"]
        if stream { headers[.accept] = "text/event-stream" }
        return try await client.execute(
            uri: "/agent/run", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// Two tools in one turn, then a third, then the answer.
    static func threeToolScript(_ claude: FakeAnthropic) {
        claude.script.set([
            .message(
                [
                    FakeAnthropic.text("Looking."), FakeAnthropic.toolUse("toolu_1", "linear_list_teams", [:]),
                    FakeAnthropic.toolUse("toolu_2", "github_list_repositories", [:]),
                ], stopReason: "tool_use", inputTokens: 100, outputTokens: 20),
            .message(
                [FakeAnthropic.toolUse("toolu_3", "linear_search_issues", ["query": "crash"])], stopReason: "tool_use",
                inputTokens: 200, outputTokens: 10),
            .message(
                [FakeAnthropic.text("ENG-1 is the crash.")], stopReason: "end_turn", inputTokens: 300, outputTokens: 7),
        ])
    }

    /// `POST /agent/run` from a client patient enough for a run that outlasts the test client's
    /// 20 s (roomy: whatever the fakes wait comes on top of what a loaded machine adds); its JSON.
    func patientRun(_ client: any TestClientProtocol, _ bearer: String, _ body: String) async throws -> [String: Any] {
        let port = try #require(client.port)
        let response = try await TestClient.withClient(
            host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(120))
        ) { patient in
            try await patient.post(
                "/agent/run", headers: [.authorization: "Bearer \(bearer)", .contentType: "application/json"],
                body: ByteBuffer(string: body))
        }
        return try #require(
            try JSONSerialization.jsonObject(
                with: Data(response.body?.readableBytesView ?? ByteBuffer().readableBytesView)) as? [String: Any])
    }

    @Test func aThreeToolRunIsExactlyRightOverJSONAndSSE() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            try await app.insertConnection(
                userId: "user-1", provider: .github, accountId: "9001", accessToken: "gh-token-user-1")
            let bearer = issuer.token(sub: "user-1")
            Self.threeToolScript(fakes.claude)
            let response = try await run(client, bearer, #"{"prompt":"Which issue is the crash?"}"#)
            #expect(response.status == .ok)
            let json = try object(response)
            #expect(json["status"] as? String == "completed")
            #expect(json["output"] as? String == "ENG-1 is the crash.")
            let steps = try #require(json["steps"] as? [[String: Any]])
            #expect(
                steps.map { $0["tool"] as? String } == [
                    "linear_list_teams", "github_list_repositories", "linear_search_issues",
                ])
            #expect(steps.map { $0["isError"] as? Bool } == [false, false, false])
            #expect((steps[2]["input"] as? [String: Any])?["query"] as? String == "crash")
            #expect(json["usage"] as? [String: Int] == ["inputTokens": 600, "outputTokens": 37])

            // What Claude was sent: headers, model, the user's tools only, and tool results first.
            let received = fakes.claude.received.get()
            #expect(received.count == 3)
            #expect(received[0].headers[HTTPField.Name("x-api-key")!] == "sk-ant-test-key")
            #expect(received[0].headers[HTTPField.Name("anthropic-version")!] == "2023-06-01")
            #expect(received[0].body["model"] as? String == "claude-test-model")
            #expect(
                received[0].toolNames.contains("linear_search_issues")
                    && received[0].toolNames.contains("github_read_file"))
            #expect(!received[0].toolNames.contains { $0.hasPrefix("slack_") })
            let second = received[1].messages
            #expect(second.map { $0["role"] as? String } == ["user", "assistant", "user"])
            let results = try #require(second[2]["content"] as? [[String: Any]])
            #expect(results.map { $0["type"] as? String } == ["tool_result", "tool_result"])
            #expect(results.map { $0["tool_use_id"] as? String } == ["toolu_1", "toolu_2"])
            #expect((results[0]["content"] as? String)?.contains("Engineering") == true)
            #expect((results[1]["content"] as? String)?.contains("acme/app") == true)
            let third = received[2].messages
            #expect(third.count == 5)
            #expect(((third[4]["content"] as? [[String: Any]])?.first)?["tool_use_id"] as? String == "toolu_3")
            // Each provider was called with that user's own token.
            #expect(Set(fakes.apis.calls.get().map(\.token)) == ["lin-token-user-1", "gh-token-user-1"])

            // The stored run reads back the same.
            let id = try #require(json["id"] as? String)
            let stored = try object(try await client.get("/agent/runs/\(id)", bearer: bearer))
            #expect(stored["output"] as? String == "ENG-1 is the crash.")
            #expect((stored["steps"] as? [[String: Any]])?.count == 3)
            #expect(try await client.get("/agent/runs/\(id)", bearer: issuer.token(sub: "user-2")).status == .notFound)

            // The same run as server-sent events: the same things, in order.
            Self.threeToolScript(fakes.claude)
            let streamed = try await run(client, bearer, #"{"prompt":"Which issue is the crash?"}"#, stream: true)
            #expect(streamed.status == .ok)
            #expect(streamed.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            var parser = ServerSentEventParser()
            let events = parser.consume(streamed.body.readableBytesView)
            let names = events.map { $0.event ?? "" }
            #expect(names == ["text", "text", "step", "step", "step", "text", "text", "done"])
            let texts = events.filter { $0.event == "text" }.compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.data.utf8)) as? [String: String]
            }.map { $0["text"] ?? "" }
            #expect(texts.joined() == "Looking.ENG-1 is the crash.")
            let done = try #require(
                try JSONSerialization.jsonObject(with: Data(events.last!.data.utf8)) as? [String: Any])
            #expect(done["output"] as? String == "ENG-1 is the crash.")
            #expect(done["usage"] as? [String: Int] == ["inputTokens": 600, "outputTokens": 37])
            #expect(fakes.claude.received.get()[3].body["stream"] as? Bool == true)
        }
    }

    @Test func overloadedTwiceThenSuccessIsOneRunAndAuthenticationErrorsAreNotRetried() async throws {
        try await withAgent { app, client, issuer, fakes in
            let bearer = issuer.token(sub: "user-1")
            fakes.claude.script.set([
                .error(status: 529, type: "overloaded_error", message: "Overloaded"),
                .error(status: 529, type: "overloaded_error", message: "Overloaded"),
                .message([FakeAnthropic.text("Hello.")], stopReason: "end_turn", inputTokens: 5, outputTokens: 2),
            ])
            let ok = try object(try await run(client, bearer, #"{"prompt":"hi"}"#))
            #expect(ok["status"] as? String == "completed")
            #expect(ok["output"] as? String == "Hello.")
            #expect(fakes.claude.received.get().count == 3)

            fakes.claude.script.set([.error(status: 401, type: "authentication_error", message: "invalid x-api-key")])
            let failed = try object(try await run(client, bearer, #"{"prompt":"hi"}"#))
            #expect(failed["status"] as? String == "failed")
            #expect((failed["error"] as? String)?.contains("invalid x-api-key") == true)
            #expect(fakes.claude.received.get().count == 4)

            // A spend-limit 429 is final too; a rate-limit 429 with retry-after is waited out.
            fakes.claude.script.set([
                .error(status: 429, type: "rate_limit_error", message: "You have reached your API usage limits")
            ])
            #expect(try object(try await run(client, bearer, #"{"prompt":"hi"}"#))["status"] as? String == "failed")
            #expect(fakes.claude.received.get().count == 5)
            fakes.claude.script.set([
                .error(status: 429, type: "rate_limit_error", message: "slow down", headers: ["retry-after": "0"])
            ])
            #expect(try object(try await run(client, bearer, #"{"prompt":"hi"}"#))["status"] as? String == "completed")
            #expect(fakes.claude.received.get().count == 7)
        }
    }

    /// A long answer, not streamed: the API sends nothing until the whole message is written.
    /// That silence is longer than provider calls may take (20 s), and must not fail the run.
    @Test func aNonStreamedAnswerSlowerThanProviderCallsCompletes() async throws {
        try await withAgent { _, client, issuer, fakes in
            fakes.claude.delay.set(.seconds(22))
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.text("A long essay.")], stopReason: "end_turn", inputTokens: 5, outputTokens: 4000)
            ])
            // Our own test client would give up after 20 s: a patient one (roomy: the fake's 22 s
            // come on top of whatever a loaded machine adds).
            let json = try await patientRun(client, issuer.token(sub: "user-1"), #"{"prompt":"write at length"}"#)
            #expect(json["status"] as? String == "completed")
            #expect(json["output"] as? String == "A long essay.")
            #expect(fakes.claude.received.get().count == 1)
        }
    }

    /// A run stopped by the overall timeout keeps the steps it took (a tool may have changed
    /// something) and the tokens it used.
    ///
    /// The deadline (15 s) leaves the first turn and its tool call room on a loaded machine; the
    /// second turn would take two minutes (the fake's wait is cut short when the test ends).
    @Test func aTimedOutRunKeepsItsStepsAndUsage() async throws {
        try await withAgent(configure: { $0.agentTimeout = .seconds(15) }) { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_1", "linear_list_teams", [:])], stopReason: "tool_use",
                    inputTokens: 11, outputTokens: 3)
            ])
            fakes.claude.delay.set(.seconds(120))
            fakes.claude.delayFrom.set(2)
            // The answer comes after the deadline: a client more patient than the test client's 20 s.
            let json = try await patientRun(client, issuer.token(sub: "user-1"), #"{"prompt":"slow"}"#)
            #expect(json["status"] as? String == "failed")
            #expect((json["error"] as? String)?.contains("longer than") == true)
            #expect((json["steps"] as? [[String: Any]])?.map { $0["tool"] as? String } == ["linear_list_teams"])
            #expect(json["usage"] as? [String: Int] == ["inputTokens": 11, "outputTokens": 3])
        }
    }

    /// A write cut off by the deadline may have taken effect: it is on record as interrupted,
    /// not as an ordinary failure the person could simply retry.
    @Test func aWriteCutOffByTheDeadlineIsRecordedAsInterrupted() async throws {
        try await withAgent(configure: { $0.agentTimeout = .seconds(20) }) { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            try await TriggeredApprovalTests.allow(app, "linear_create_issue")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_w", "linear_create_issue", ["teamId": "team-1", "title": "Crash"])],
                    stopReason: "tool_use", inputTokens: 10, outputTokens: 5)
            ])
            fakes.apis.issueCreateDelay.set(.seconds(120))
            defer { fakes.apis.issueCreateDelay.set(.zero) }
            let json = try await patientRun(client, issuer.token(sub: "user-1"), #"{"prompt":"file it"}"#)
            #expect(json["status"] as? String == "failed")
            #expect((json["steps"] as? [[String: Any]])?.map { $0["isError"] as? Bool } == [true])
            #expect(ApprovalTests.issueCreates(fakes) == 1)
            let stored = try await app.sql { sql in
                var steps = ""
                for try await text in try await sql.query(#"SELECT "steps"::text FROM "agentRun""#).decode(String.self)
                {
                    steps = text
                }
                return steps
            }
            #expect(stored.contains("Interrupted while being made"), "\(stored)")
        }
    }

    @Test func theStepLimitStopsAModelThatNeverEnds() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            fakes.claude.fallback.set(
                .message(
                    [FakeAnthropic.toolUse("toolu_x", "linear_list_teams", [:])], stopReason: "tool_use",
                    inputTokens: 1, outputTokens: 1))
            let json = try object(
                try await run(client, issuer.token(sub: "user-1"), #"{"prompt":"loop","maxSteps":3}"#))
            #expect(json["status"] as? String == "completed")
            #expect(fakes.claude.received.get().count == 3)
            #expect((json["steps"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test func providerErrorsAreToolErrorsAndToolsAreTheCallersOwn() async throws {
        try await withAgent { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .github, accountId: "9001", accessToken: "gh-token-user-1")
            try await app.insertConnection(
                userId: "user-2", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-2")
            // user-1 has no Linear connection: no Linear tools, and asking for one anyway fails
            // without touching user-2's connection.
            fakes.claude.script.set([
                .message(
                    [
                        // A blank text block: the API refuses one sent back to it.
                        FakeAnthropic.text(" \n"),
                        FakeAnthropic.toolUse("toolu_1", "linear_list_teams", [:]),
                        FakeAnthropic.toolUse("toolu_2", "github_get_issue", ["repo": "acme/app", "number": 404]),
                    ],
                    stopReason: "tool_use", inputTokens: 1, outputTokens: 1)
            ])
            let json = try object(try await run(client, issuer.token(sub: "user-1"), #"{"prompt":"teams?"}"#))
            #expect(!fakes.claude.received.get()[0].toolNames.contains { $0.hasPrefix("linear_") })
            #expect((json["steps"] as? [[String: Any]])?.map { $0["isError"] as? Bool } == [true, true])
            let results = fakes.claude.received.get()[1].messages[2]["content"] as? [[String: Any]] ?? []
            #expect(results.map { $0["is_error"] as? Bool } == [true, true])
            let assistant = fakes.claude.received.get()[1].messages[1]["content"] as? [[String: Any]] ?? []
            #expect(assistant.map { $0["type"] as? String } == ["tool_use", "tool_use"])
            #expect((results[1]["content"] as? String)?.contains("404") == true)
            #expect(!fakes.apis.calls.get().contains { $0.token == "lin-token-user-2" })

            // GraphQL errors under HTTP 200 are errors.
            fakes.apis.graphQLError.set("You cannot see this team")
            fakes.claude.script.set([
                .message(
                    [FakeAnthropic.toolUse("toolu_3", "linear_list_teams", [:])], stopReason: "tool_use",
                    inputTokens: 1, outputTokens: 1)
            ])
            let before = fakes.claude.received.get().count
            let second = try object(try await run(client, issuer.token(sub: "user-2"), #"{"prompt":"teams?"}"#))
            #expect((second["steps"] as? [[String: Any]])?.first?["isError"] as? Bool == true)
            let result = (fakes.claude.received.get()[before + 1].messages[2]["content"] as? [[String: Any]])?.first
            #expect(result?["is_error"] as? Bool == true)
            #expect((result?["content"] as? String)?.contains("You cannot see this team") == true)
        }
    }

    @Test func badRequestsLimitsAndAnUnconfiguredAgent() async throws {
        // An hour's window: the four requests never straddle its end, however slow the machine.
        try await withAgent(overrides: ["AGENT_RATE_LIMIT": "3"], configure: { $0.agentLimit.window = .seconds(3600) })
        { app, client, issuer, fakes in
            let bearer = issuer.token(sub: "user-1")
            #expect(try await run(client, bearer, #"{"maxSteps":3}"#).status == .badRequest)
            #expect(try await run(client, bearer, #"{"prompt":"hi","maxSteps":21}"#).status == .badRequest)
            #expect(try await run(client, bearer, #"{"prompt":"hi","tools":["rm_rf"]}"#).status == .badRequest)
            let limited = try await run(client, bearer, #"{"prompt":"hi"}"#)
            #expect(limited.status == .tooManyRequests)
            #expect(fakes.claude.received.get().isEmpty)
            #expect(
                try await client.execute(
                    uri: "/agent/run", method: .post, body: ByteBuffer(string: #"{"prompt":"hi"}"#)
                ).status == .unauthorized)
        }
        let jwks = FakeJWKS(issuer: try TestTokenIssuer())
        try await jwks.withApp { app, client in
            let response = try await client.execute(
                uri: "/agent/run", method: .post,
                headers: [
                    .authorization: "Bearer \(jwks.issuer.token())", .contentType: "application/json",
                ], body: ByteBuffer(string: #"{"prompt":"hi"}"#))
            #expect(response.status == .serviceUnavailable)
            #expect(String(buffer: response.body).contains("ANTHROPIC_API_KEY"))
        }
    }
}
