import Foundation
import Logging
import MCP
import Shared
import Synchronization

/// The tool-use loop: ask Claude, run the tools it asks for (one turn's calls concurrently),
/// answer with `tool_result` blocks first in the next user turn, and stop on `end_turn`,
/// `max_tokens`, `refusal` (any reason but `tool_use`), the step limit or the overall timeout.
/// Usage is summed over the turns; the run is stored when it starts and when it ends.
struct AgentRunner: Sendable {
    struct Request: Sendable {
        var userId: String
        var prompt: String
        /// Model turns at most (1–20).
        var maxSteps = 8
        /// Narrows the user's tools to these names.
        var tools: [String]?
        var trigger: AgentRun.Trigger = .api
        /// Where the request came from (a Slack thread, a Linear issue), for the system prompt.
        var situation: String?
        /// The webhook event that started the run.
        var triggerKey: String?
        /// The account a triggered run acts in, per provider: the event's workspace or organization.
        var pinned: [ProviderID: String] = [:]
    }

    /// What a streaming caller sees, in order.
    enum Event: Sendable {
        case text(String)
        case step(AgentStep)
    }

    let client: AnthropicClient
    let registry: ToolRegistry
    let runs: AgentRunRepository
    let logger: Logger
    var timeout: Duration = .seconds(120)

    static let systemPrompt = """
        You are the Connectors assistant. You act in the user's own connected tools (GitHub, Slack, \
        Linear) through the tools you are given, and only those. Look things up before answering \
        questions about them; make changes only when the user asks for them, and say what you \
        changed, with links. Be brief.
        """

    func run(_ request: Request, emit: (@Sendable (Event) async -> Void)? = nil) async throws -> AgentRun {
        var run = AgentRun(
            id: RandomToken.string(length: 24), userId: request.userId, trigger: request.trigger,
            prompt: request.prompt, triggerKey: request.triggerKey)
        // Both reads and the insert at once: they do not depend on each other.
        let starting = run
        async let stored: Void = runs.insert(starting)
        async let tools = registry.toolbox(userId: request.userId, only: request.tools, pinned: request.pinned)
        try await stored
        // The loop's steps and usage so far, readable when the deadline cancels it.
        let progress = LockedBox((steps: [AgentStep](), usage: Anthropic.Usage()))
        do {
            let toolbox = try await tools
            let outcome = try await withTimeout(timeout, onTimeout: { [timeout] in AgentTimeout(limit: timeout) }) {
                try await loop(request, toolbox: toolbox, emit: emit, progress: progress)
            }
            run.status = .completed
            run.output = outcome.output
            run.steps = outcome.steps
            run.stopReason = outcome.stopReason
            run.usage = outcome.usage
        } catch let failure as LoopFailure {
            run.status = .failed
            run.steps = failure.steps
            run.usage = failure.usage
            run.error = failure.message
        } catch let timeout as AgentTimeout {
            // What was done before the deadline stays on record: tools may have made changes.
            run.status = .failed
            (run.steps, run.usage) = progress.withLock { ($0.steps, $0.usage) }
            run.error = timeout.description
        } catch {
            run.status = .failed
            run.error = Self.describe(error)
        }
        if run.status == .failed {
            logger.warning("agent run failed", metadata: ["run": "\(run.id)", "error": "\(run.error ?? "")"])
        }
        try await runs.finish(run)
        return run
    }

    private struct Outcome: Sendable {
        var output: String
        var steps: [AgentStep]
        var stopReason: String
        var usage: Anthropic.Usage
    }

    /// A failure inside the loop, with what was done before it (kept on the failed run).
    private struct LoopFailure: Error {
        var message: String
        var steps: [AgentStep]
        var usage: Anthropic.Usage
    }

    private func loop(
        _ request: Request, toolbox: Toolbox, emit: (@Sendable (Event) async -> Void)?,
        progress: LockedBox<(steps: [AgentStep], usage: Anthropic.Usage)>
    ) async throws -> Outcome {
        let system = [Self.systemPrompt, request.situation].compactMap { $0 }.joined(separator: "\n\n")
        var messages = [Anthropic.Message(role: "user", content: [.text(request.prompt)])]
        var steps = [AgentStep]()
        var usage = Anthropic.Usage()
        var texts = [String]()
        var onText: (@Sendable (String) async -> Void)?
        if let emit { onText = { @Sendable text in await emit(.text(text)) } }
        for turn in 1...max(1, request.maxSteps) {
            let response: Anthropic.Response
            do {
                response = try await client.send(
                    system: system, messages: messages, tools: toolbox.specs, onText: onText)
            } catch {
                throw LoopFailure(message: Self.describe(error), steps: steps, usage: usage)
            }
            usage.inputTokens += response.usage.inputTokens
            usage.outputTokens += response.usage.outputTokens
            progress.withLock { $0.usage = usage }
            if !response.text.isEmpty { texts.append(response.text) }
            let calls = response.toolUses
            guard response.stopReason == "tool_use", !calls.isEmpty else {
                return Outcome(
                    output: response.text.isEmpty ? texts.joined(separator: "\n\n") : response.text,
                    steps: steps, stopReason: response.stopReason ?? "end_turn", usage: usage)
            }
            // The limit: tools asked for in the last allowed turn are not run.
            if turn == request.maxSteps { break }
            messages.append(
                Anthropic.Message(
                    role: "assistant", content: response.content.filter { if case .other = $0 { false } else { true } })
            )
            let outcomes = await withTaskGroup(of: (Int, ToolOutcome).self) { group in
                for (index, call) in calls.enumerated() {
                    group.addTask { (index, await toolbox.call(call.name, input: call.input)) }
                }
                var outcomes = [ToolOutcome?](repeating: nil, count: calls.count)
                for await (index, outcome) in group { outcomes[index] = outcome }
                return outcomes.map { $0! }
            }
            var results = [Anthropic.Block]()
            for (call, outcome) in zip(calls, outcomes) {
                let step = AgentStep(
                    tool: call.name, input: call.input, isError: outcome.isError,
                    summary: String(outcome.text.prefix(AgentStep.summaryLength)))
                steps.append(step)
                progress.withLock { $0.steps = steps }
                await emit?(.step(step))
                results.append(.toolResult(toolUseID: call.id, content: outcome.text, isError: outcome.isError))
            }
            messages.append(Anthropic.Message(role: "user", content: results))
        }
        return Outcome(output: texts.joined(separator: "\n\n"), steps: steps, stopReason: "max_steps", usage: usage)
    }

    struct AgentTimeout: Error, CustomStringConvertible {
        let limit: Duration
        var description: String {
            "The run took longer than \(limit.wholeMilliseconds / 1000) seconds and was stopped."
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as Anthropic.APIError:
            "Claude could not answer: \(error.message) (\(error.type), HTTP \(error.status))."
        case let error as AnthropicClient.NetworkFailure: "Claude could not be reached: \(error.description)"
        default: "\(error)"
        }
    }
}
