import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// `POST /agent/run`, `GET /agent/runs[/:id]` and `GET /agent/usage` (JWT).
struct AgentRoutes: Sendable {
    /// Nil when `ANTHROPIC_API_KEY`/`ANTHROPIC_MODEL` are not set: runs answer 503.
    let runner: AgentRunner?
    let runs: AgentRunRepository
    let events: RunEvents
    let limits: AgentRunRepository.Limits
    /// The longest an open stream waits for a paused run to go on.
    let longestWait: Duration

    /// The longest prompt, in bytes of UTF-8.
    static let promptLimit = 32 * 1024

    /// `prompt` cut to at most `promptLimit` bytes of UTF-8, between characters: what a
    /// trigger passes on from a provider's text, which this service does not choose the size of.
    static func clipped(_ prompt: String) -> String {
        guard prompt.utf8.count > promptLimit else { return prompt }
        var bytes = 0
        var end = prompt.startIndex
        for index in prompt.indices {
            bytes += prompt[index].utf8.count
            guard bytes <= promptLimit else { break }
            end = prompt.index(after: index)
        }
        return String(prompt[..<end])
    }

    struct RunRequest: Decodable {
        let prompt: String
        let maxSteps: Int?
        let tools: [String]?
    }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // Runs: a 256 KiB body, the JWT, the user's limit and the runs-per-minute limit.
        let group = router.group().add(middleware: policies.body.agent).add(middleware: policies.auth.required)
            .add(middleware: policies.limit.perUser).add(middleware: policies.limit.agentRuns)
        let read = router.group().add(middleware: policies.body.json).add(middleware: policies.auth.required)
            .add(middleware: policies.limit.perUser)
        /// Runs the assistant for the caller; JSON when it is done or paused for an approval, or
        /// server-sent events (`text`, `step`, `approval`, then `done` or `error`) with
        /// `Accept: text/event-stream`.
        group.post("/agent/run") { request, context in
            let user = try context.requireUser()
            guard let runner else {
                throw AppError.serviceUnavailable(
                    "AGENT_NOT_CONFIGURED",
                    "The agent is disabled: set ANTHROPIC_API_KEY and ANTHROPIC_MODEL to enable it.")
            }
            let body = try await JSONBody.decode(RunRequest.self, from: request, context: context)
            let started: AgentRunner.Started
            do {
                started = try await runner.start(try Self.validate(body, userId: user.id))
            } catch let refusal as AgentRunner.Refusal {
                throw refusal.appError
            }
            if request.headers[.accept]?.contains("text/event-stream") == true {
                return stream(started, runner: runner, logger: context.logger)
            }
            return try Response.json(AgentRunView(await runner.run(started)))
        }
        /// The caller's runs, newest first: `{runs, nextCursor}`.
        read.get("/agent/runs") { request, context in
            let user = try context.requireUser()
            let page = try Page(request)
            let cursor = try page.cursor.map { text in
                guard let cursor = RunCursor(encoded: text) else {
                    throw AppError.badRequest("VALIDATION_ERROR", "The cursor is not one this API gave.")
                }
                return cursor
            }
            let found = try await runs.list(userId: user.id, limit: page.limit + 1, after: cursor)
            let shown = Array(found.prefix(page.limit))
            let next = found.count > page.limit ? shown.last.map { RunCursor(createdAt: $0.createdAt, id: $0.id) } : nil
            return try Response.json(RunList(runs: shown.map(AgentRunSummary.init), nextCursor: next?.encoded))
        }
        /// One of the caller's runs, with its progress (another user's is 404, like a missing one).
        read.get("/agent/runs/:id") { _, context in
            let user = try context.requireUser()
            guard let run = try await runs.find(id: try context.parameters.require("id"), userId: user.id) else {
                throw AppError.notFound("RUN_NOT_FOUND", "No such run.")
            }
            return try Response.json(AgentRunView(run))
        }
        /// The tokens the caller's runs used today (UTC) and the daily budget (0: none).
        read.get("/agent/usage") { _, context in
            let user = try context.requireUser()
            let usage = try await runs.usage(userId: user.id)
            return try Response.json(
                Usage(
                    today: .init(inputTokens: usage.inputTokens, outputTokens: usage.outputTokens),
                    budget: limits.dailyTokens,
                    resetsAt: JSTime.string(AgentRunRepository.utcDay(of: Date()).end)))
        }
    }

    struct RunList: Encodable {
        let runs: [AgentRunSummary]
        let nextCursor: String?
    }

    struct Usage: Encodable {
        let today: AgentRunView.Usage
        let budget: Int
        let resetsAt: String
    }

    static func validate(_ body: RunRequest, userId: String) throws -> AgentRunner.Request {
        let prompt = body.prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            throw AppError.badRequest("VALIDATION_ERROR", "The field prompt must not be empty.")
        }
        guard prompt.utf8.count <= promptLimit else {
            throw AppError(
                .contentTooLarge, code: "PROMPT_TOO_LARGE", message: "The prompt is longer than 32 KiB.")
        }
        let maxSteps = body.maxSteps ?? 8
        guard (1...20).contains(maxSteps) else {
            throw AppError.badRequest("VALIDATION_ERROR", "The field maxSteps must be between 1 and 20.")
        }
        if let tools = body.tools {
            let unknown = tools.filter { ToolRegistry.tool(named: $0) == nil }
            guard unknown.isEmpty else {
                throw AppError.badRequest("UNKNOWN_TOOL", "No tool is named \(unknown.joined(separator: ", ")).")
            }
        }
        return AgentRunner.Request(userId: userId, prompt: prompt, maxSteps: maxSteps, tools: body.tools)
    }

    /// The run as server-sent events. A run that pauses emits `approval` and, while the stream
    /// stays open, goes on streaming once it is decided (wherever it continues). If the client
    /// goes away, the run still finishes and is stored (readable at `/agent/runs/:id`).
    private func stream(_ started: AgentRunner.Started, runner: AgentRunner, logger: Logger) -> Response {
        let (events, sink) = AsyncStream.makeStream(of: ServerSentEvent.self)
        // Listening before the run starts: a decision can come the moment `approval` is sent.
        let updates = self.events.listen(to: started.run.id)
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                async let finished: Void = {
                    let run = await runner.run(started) { event in sink.yield(Self.event(event, runId: started.run.id))
                    }
                    if run.status == .awaitingApproval {
                        await follow(run, updates: updates, into: sink)
                    } else {
                        sink.yield(Self.final(run))
                    }
                    sink.finish()
                }()
                var connected = true
                for await event in events where connected {
                    do { try await writer.write(ByteBuffer(string: event.encoded)) } catch { connected = false }
                }
                await finished
                if connected { try await writer.finish(nil) }
            })
    }

    /// Streams a paused run's updates until it ends, checking the stored run now and then (it
    /// may continue on another replica), for at most `longestWait`.
    private func follow(
        _ paused: AgentRun, updates: AsyncStream<RunEvents.Update>, into sink: AsyncStream<ServerSentEvent>.Continuation
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await update in updates {
                    switch update {
                    case .event(let event): sink.yield(Self.event(event, runId: paused.id))
                    case .stopped(let run) where run.status != .awaitingApproval:
                        sink.yield(Self.final(run))
                        return
                    case .stopped: continue
                    }
                }
            }
            group.addTask { [runs, events, longestWait] in
                let deadline = ContinuousClock.now + longestWait
                while ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .seconds(5))
                    if Task.isCancelled { return }
                    if let run = try? await runs.find(id: paused.id, userId: paused.userId),
                        run.status == .completed || run.status == .failed
                    {
                        events.publish(.stopped(run), run: paused.id)
                        return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private static func event(_ event: AgentRunner.Event, runId: String) -> ServerSentEvent {
        switch event {
        case .text(let text): Self.event("text", ["text": text])
        case .step(let step):
            Self.event("step", AgentRunView.Step(tool: step.tool, input: step.input, isError: step.isError))
        case .approval(let approvals):
            Self.event("approval", ApprovalEvent(runId: runId, approvals: approvals.map(ApprovalView.init)))
        }
    }

    private static func final(_ run: AgentRun) -> ServerSentEvent {
        event(run.status == .failed ? "error" : "done", AgentRunView(run))
    }

    struct ApprovalEvent: Encodable {
        let runId: String
        let approvals: [ApprovalView]
    }

    private static func event(_ name: String, _ value: some Encodable) -> ServerSentEvent {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ServerSentEvent(event: name, data: data)
    }
}

/// `?limit=&cursor=` on list routes: 1–100 (default 20), and the cursor a previous page gave.
struct Page: Sendable {
    var limit = 20
    var cursor: String?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        if let text = query["limit"] {
            guard let limit = Int(String(text)), (1...100).contains(limit) else {
                throw AppError.badRequest("VALIDATION_ERROR", "The limit must be a number from 1 to 100.")
            }
            self.limit = limit
        }
        cursor = query["cursor"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }
}
