import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// `POST /agent/run` and `GET /agent/runs/:id` (JWT).
struct AgentRoutes: Sendable {
    /// Nil when `ANTHROPIC_API_KEY`/`ANTHROPIC_MODEL` are not set: runs answer 503.
    let runner: AgentRunner?
    let runs: AgentRunRepository

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
        /// Runs the assistant for the caller; JSON when it is done, or server-sent events
        /// (`text`, `step`, then `done` or `error`) with `Accept: text/event-stream`.
        group.post("/agent/run") { request, context in
            let user = try context.requireUser()
            guard let runner else {
                throw AppError.serviceUnavailable(
                    "AGENT_NOT_CONFIGURED",
                    "The agent is disabled: set ANTHROPIC_API_KEY and ANTHROPIC_MODEL to enable it.")
            }
            let body = try await JSONBody.decode(RunRequest.self, from: request, context: context)
            let run = try Self.validate(body, userId: user.id)
            if request.headers[.accept]?.contains("text/event-stream") == true {
                return stream(run, runner: runner, logger: context.logger)
            }
            return try Response.json(AgentRunView(try await runner.run(run)))
        }
        /// One of the caller's runs (another user's is 404, like a missing one).
        read.get("/agent/runs/:id") { _, context in
            let user = try context.requireUser()
            guard let run = try await runs.find(id: try context.parameters.require("id"), userId: user.id) else {
                throw AppError.notFound("RUN_NOT_FOUND", "No such run.")
            }
            return try Response.json(AgentRunView(run))
        }
    }

    static func validate(_ body: RunRequest, userId: String) throws -> AgentRunner.Request {
        let prompt = body.prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !prompt.isEmpty else {
            throw AppError.badRequest("VALIDATION_ERROR", "The field prompt must not be empty.")
        }
        guard prompt.count <= 100_000 else {
            throw AppError.badRequest("VALIDATION_ERROR", "The field prompt is longer than 100000 characters.")
        }
        let maxSteps = body.maxSteps ?? 8
        guard (1...20).contains(maxSteps) else {
            throw AppError.badRequest("VALIDATION_ERROR", "The field maxSteps must be between 1 and 20.")
        }
        if let tools = body.tools {
            let known = Set(ToolRegistry.all.map(\.name))
            let unknown = tools.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw AppError.badRequest("UNKNOWN_TOOL", "No tool is named \(unknown.joined(separator: ", ")).")
            }
        }
        return AgentRunner.Request(userId: userId, prompt: prompt, maxSteps: maxSteps, tools: body.tools)
    }

    /// The run as server-sent events. If the client goes away, the run still finishes and is
    /// stored (readable at `/agent/runs/:id`).
    private func stream(_ request: AgentRunner.Request, runner: AgentRunner, logger: Logger) -> Response {
        let (events, sink) = AsyncStream.makeStream(of: ServerSentEvent.self)
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                async let finished: Void = {
                    do {
                        let run = try await runner.run(request) { event in
                            switch event {
                            case .text(let text): sink.yield(Self.event("text", ["text": text]))
                            case .step(let step):
                                sink.yield(
                                    Self.event(
                                        "step",
                                        AgentRunView.Step(tool: step.tool, input: step.input, isError: step.isError)))
                            }
                        }
                        sink.yield(Self.event(run.status == .failed ? "error" : "done", AgentRunView(run)))
                    } catch {
                        logger.error("agent run could not be stored", metadata: ["error": "\(error)"])
                        sink.yield(
                            Self.event(
                                "error", ["code": "INTERNAL_ERROR", "message": "The run could not be completed."]))
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

    private static func event(_ name: String, _ value: some Encodable) -> ServerSentEvent {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ServerSentEvent(event: name, data: data)
    }
}
