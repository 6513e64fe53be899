import DB
import Foundation
import HTTPTypes
import Logging
import MCP
import Shared
import Synchronization

/// The tool-use loop: ask Claude, run the tools it asks for (one turn's calls concurrently),
/// answer with `tool_result` blocks first in the next user turn, and stop on `end_turn`,
/// `max_tokens`, `refusal` (any reason but `tool_use`), the step limit or the overall timeout.
///
/// Each call goes through the person's policy: `deny`ed tools are never offered; a call to an
/// `ask` tool pauses the run before it is made — the run is stored whole with its approvals and
/// returns `awaiting_approval`, holding nothing else. `resume` continues it once every approval
/// is decided: approved calls are made (once), declined ones answered as refused.
struct AgentRunner: Sendable {
    struct Request: Sendable {
        /// The run's id, known before it starts (so a listener can subscribe first).
        var id = RandomToken.string(length: 24)
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
        /// Where a triggered run answers.
        var replyTo: ReplyTarget?
    }

    /// What a streaming caller sees, in order.
    enum Event: Sendable {
        case text(String)
        case step(AgentStep)
        /// The run paused: these calls wait for a decision.
        case approval([Approval])
    }

    /// A run that may not start now.
    enum Refusal: Error, Sendable, Equatable {
        case overBudget(resetsAt: Date)
        case busy
        case workspaceBusy

        var appError: AppError {
            switch self {
            case .overBudget(let resetsAt):
                let seconds = max(1, Int(resetsAt.timeIntervalSinceNow.rounded(.up)))
                return AppError(
                    .tooManyRequests, code: "AGENT_BUDGET_EXCEEDED",
                    message: "Today's agent token budget is spent; it resets at 00:00 UTC.",
                    headers: [.retryAfter: String(seconds)])
            case .busy:
                return AppError(
                    .tooManyRequests, code: "AGENT_BUSY",
                    message: "As many of your runs as allowed are already running; try again when one ends.")
            case .workspaceBusy:
                return AppError(
                    .tooManyRequests, code: "AGENT_WORKSPACE_BUSY",
                    message: "As many runs as allowed are already running for this workspace; try again shortly.")
            }
        }

        /// Said to the person in Slack or Linear.
        var politely: String {
            switch self {
            case .overBudget:
                "You have used today's agent budget, so I did not start on this. It resets at 00:00 UTC."
            case .busy:
                "You already have as many requests running as allowed. Ask again when one has finished."
            case .workspaceBusy:
                "This workspace already has as many requests running as allowed. Ask again in a little while."
            }
        }
    }

    let client: AnthropicClient
    let registry: ToolRegistry
    let runs: AgentRunRepository
    let approvals: ApprovalRepository
    let policies: ToolPolicyRepository
    let logger: Logger
    var timeout: Duration = .seconds(120)
    /// How long a run in progress may go on once the service is asked to stop
    /// (`AGENT_SHUTDOWN_GRACE_SECONDS`); then it is stopped and recorded as failed, steps kept.
    var shutdownGrace: Duration = .seconds(30)
    var limits = AgentRunRepository.Limits()
    /// How long an approval waits (`AGENT_APPROVAL_TIMEOUT_SECONDS`) before counting as denied.
    var approvalTimeout: Duration = .seconds(900)

    static let systemPrompt = """
        You are the Connectors assistant. You act in the user's own connected tools (GitHub, Slack, \
        Linear) through the tools you are given, and only those. Look things up before answering \
        questions about them; make changes only when the user asks for them, and say what you \
        changed, with links. Some actions wait for the user's approval; if one is declined, do not \
        try it another way. Be brief.
        """

    /// How long a run counts as running without finishing: its process may have died.
    var lease: Duration { timeout + .seconds(60) }

    /// A run that was allowed to start and is stored, with the person's tools and policies.
    struct Started: Sendable {
        let run: AgentRun
        let state: AgentRunState
        let tools: Result<(Toolbox, ToolPolicies), any Error>
    }

    /// Starts a run and runs it to its end or first pause; throws `Refusal` when the person's
    /// limits do not allow one now.
    func run(_ request: Request, emit: (@Sendable (Event) async -> Void)? = nil) async throws -> AgentRun {
        await run(try await start(request), emit: emit)
    }

    func run(_ started: Started, emit: (@Sendable (Event) async -> Void)? = nil) async -> AgentRun {
        await drive(started.run, state: started.state, tools: started.tools, emit: emit)
    }

    /// Checks the person's limits and stores the starting run (`Refusal` when it may not start).
    func start(_ request: Request) async throws -> Started {
        var run = AgentRun(
            id: request.id, userId: request.userId, trigger: request.trigger, prompt: request.prompt,
            triggerKey: request.triggerKey)
        run.replyTo = request.replyTo
        run.owner = RandomToken.string(length: 16)
        let starting = run
        // The limits check and insert, the tools and the policies at once: they do not depend
        // on each other.
        async let started = runs.start(starting, limits: limits, lease: lease)
        async let tools = registry.toolbox(
            userId: request.userId, only: request.tools, pinned: request.pinned,
            origin: ToolCallOrigin(surface: request.trigger.surface, runId: run.id))
        async let policies = policies.load(userId: request.userId)
        switch try await started {
        case .started: break
        case .overBudget(let resetsAt): throw Refusal.overBudget(resetsAt: resetsAt)
        case .busy: throw Refusal.busy
        case .workspaceBusy: throw Refusal.workspaceBusy
        }
        let loaded: Result<(Toolbox, ToolPolicies), any Error>
        do { loaded = .success(try await (tools, policies)) } catch { loaded = .failure(error) }
        return Started(run: run, state: AgentRunState(request), tools: loaded)
    }

    /// Continues a claimed paused run (its approvals all decided) to its end or next pause.
    func resume(_ run: AgentRun, emit: (@Sendable (Event) async -> Void)? = nil) async -> AgentRun {
        guard let state = run.state else {
            var failed = run
            failed.status = .failed
            failed.error = "The run's stored state could not be read."
            _ = try? await runs.finish(failed)
            return failed
        }
        async let tools = registry.toolbox(
            userId: run.userId, only: state.tools, pinned: state.pinnedAccounts,
            origin: ToolCallOrigin(surface: run.trigger.surface, runId: run.id))
        async let policies = policies.load(userId: run.userId)
        let loaded: Result<(Toolbox, ToolPolicies), any Error>
        do { loaded = .success(try await (tools, policies)) } catch { loaded = .failure(error) }
        return await drive(run, state: state, tools: loaded, emit: emit)
    }

    /// Runs the loop under the timeout and stores how it ended.
    private func drive(
        _ run: AgentRun, state: AgentRunState, tools: Result<(Toolbox, ToolPolicies), any Error>,
        emit: (@Sendable (Event) async -> Void)?
    ) async -> AgentRun {
        var run = run
        // The loop's steps and usage so far, and the calls being made, readable when the deadline
        // or a shutdown cancels it.
        let progress = LockedBox(Progress(steps: run.steps, usage: run.usage))
        do {
            let (toolbox, policies) = try tools.get()
            let offered = toolbox.limited { policies.policy(for: $0) != .deny }
            let starting = run
            let end = try await withTimeout(timeout, onTimeout: { [timeout] in AgentTimeout(limit: timeout) }) {
                [shutdownGrace] in
                try await withShutdownGrace(shutdownGrace, onExpiry: { AgentStopped() }) {
                    try await loop(
                        starting, state: state, toolbox: offered, policies: policies, emit: emit, progress: progress)
                }
            }
            switch end {
            case .finished(let outcome):
                run.status = .completed
                run.output = outcome.output
                run.stopReason = outcome.stopReason
                (run.steps, run.usage) = (outcome.steps, outcome.usage)
            case .paused(let paused, let waiting, let steps, let usage):
                run.status = .awaitingApproval
                (run.steps, run.usage) = (steps, usage)
                run.output = paused.texts.joined(separator: "\n\n")
                run.state = paused
                run.approvals = waiting
                do {
                    guard try await runs.pause(run, state: paused, approvals: waiting) else {
                        logger.warning("a run lost its lease before it could pause", metadata: ["run": "\(run.id)"])
                        return run
                    }
                } catch {
                    run.status = .failed
                    run.error = "The run could not be paused for approval: \(error)"
                    break
                }
                await emit?(.approval(waiting))
                return run
            }
        } catch let failure as LoopFailure {
            run.status = .failed
            (run.steps, run.usage) = (failure.steps, failure.usage)
            run.error = failure.message
        } catch let stop as any AgentStop {
            // What was done before the deadline stays on record: tools may have made changes,
            // and a call cut off mid-way may have too.
            run.status = .failed
            (run.steps, run.usage) = progress.withLock { ($0.steps + $0.inFlight.map(Self.interrupted), $0.usage) }
            run.error = stop.description
        } catch {
            run.status = .failed
            run.error = Self.describe(error)
        }
        if run.status == .failed {
            logger.warning("agent run failed", metadata: ["run": "\(run.id)", "error": "\(run.error ?? "")"])
        }
        run.state = nil
        run.approvals = []
        do {
            if try await !runs.finish(run) {
                logger.warning(
                    "a run lost its lease before it ended; its end is not stored", metadata: ["run": "\(run.id)"])
            }
        } catch {
            logger.error("an agent run's end could not be stored", metadata: ["run": "\(run.id)", "error": "\(error)"])
        }
        return run
    }

    /// What a loop has done so far.
    struct Progress: Sendable {
        var steps: [AgentStep]
        var usage: Anthropic.Usage
        /// Calls being made now.
        var inFlight: [AgentRunState.Call] = []
    }

    /// A call whose making was cut off: on record, as a failure nobody can vouch for.
    static func interrupted(_ call: AgentRunState.Call) -> AgentStep {
        AgentStep(
            tool: call.name, input: call.input, isError: true,
            summary: "Interrupted while being made; it is unknown whether it took effect.")
    }

    private struct Outcome: Sendable {
        var output: String
        var steps: [AgentStep]
        var stopReason: String
        var usage: Anthropic.Usage
    }

    private enum LoopEnd: Sendable {
        case finished(Outcome)
        case paused(AgentRunState, [Approval], steps: [AgentStep], usage: Anthropic.Usage)
    }

    /// A failure inside the loop, with what was done before it (kept on the failed run).
    private struct LoopFailure: Error {
        var message: String
        var steps: [AgentStep]
        var usage: Anthropic.Usage
    }

    private func loop(
        _ run: AgentRun, state initial: AgentRunState, toolbox: Toolbox, policies: ToolPolicies,
        emit: (@Sendable (Event) async -> Void)?, progress: LockedBox<Progress>
    ) async throws -> LoopEnd {
        var state = initial
        var steps = run.steps
        var usage = run.usage
        // Whether this run's conversation is stored (a continued run, or one that recorded calls
        // before making them): it is then kept current after every turn.
        var stored = run.state != nil
        func record(_ step: AgentStep) async {
            steps.append(step)
            progress.withLock { $0.steps = steps }
            await emit?(.step(step))
        }
        // Resuming: answer the calls that waited, in the order the model made them.
        if !state.calls.isEmpty {
            let decided = try await approvals.forRun(run.id)
            var results = [Anthropic.Block]()
            for call in state.calls {
                let outcome: ToolOutcome
                if let known = call.result {
                    outcome = known
                } else if call.started == true {
                    // Recorded before it was made, and the process died before its answer: it
                    // is not made again.
                    let step = Self.interrupted(call)
                    outcome = ToolOutcome(
                        text:
                            "This action was interrupted (the service restarted); it is unknown whether it took effect. Check before trying again.",
                        isError: true)
                    await record(step)
                } else {
                    outcome = await settle(call, decided: decided, toolbox: toolbox)
                    await record(
                        AgentStep(
                            tool: call.name, input: call.input, isError: outcome.isError,
                            summary: String(outcome.text.prefix(AgentStep.summaryLength))))
                }
                results.append(.toolResult(toolUseID: call.id, content: outcome.text, isError: outcome.isError))
            }
            state.messages.append(Anthropic.Message(role: "user", content: results))
            state.calls = []
        }
        let system = [Self.systemPrompt, state.situation].compactMap { $0 }.joined(separator: "\n\n")
        var onText: (@Sendable (String) async -> Void)?
        if let emit { onText = { @Sendable text in await emit(.text(text)) } }
        // The API wants every tool a conversation used defined while it holds their blocks. A run
        // continued after its tools went (the connection removed, the tool denied while it
        // waited) lists those it used, and may call none of them.
        var tools = toolbox.specs
        var toolChoice: String?
        if tools.isEmpty {
            let used = Set(
                state.messages.flatMap(\.content).compactMap { block -> String? in
                    if case .toolUse(_, let name, _) = block { name } else { nil }
                })
            tools = ToolRegistry.all.filter { used.contains($0.name) }.map {
                Anthropic.ToolSpec(name: $0.name, description: $0.description, inputSchema: $0.inputSchema)
            }
            if !tools.isEmpty { toolChoice = "none" }
        }
        while state.turn < max(1, state.maxSteps) {
            state.turn += 1
            let response: Anthropic.Response
            do {
                response = try await client.send(
                    system: system, messages: state.messages, tools: tools, toolChoice: toolChoice, onText: onText)
            } catch {
                throw LoopFailure(message: Self.describe(error), steps: steps, usage: usage)
            }
            usage.inputTokens += response.usage.inputTokens
            usage.outputTokens += response.usage.outputTokens
            progress.withLock { $0.usage = usage }
            if !response.text.isEmpty { state.texts.append(response.text) }
            let uses = response.toolUses
            guard response.stopReason == "tool_use", !uses.isEmpty else {
                return .finished(
                    Outcome(
                        output: response.text.isEmpty ? state.texts.joined(separator: "\n\n") : response.text,
                        steps: steps, stopReason: response.stopReason ?? "end_turn", usage: usage))
            }
            // The limit: tools asked for in the last allowed turn are not run.
            if state.turn == state.maxSteps { break }
            state.messages.append(
                Anthropic.Message(
                    role: "assistant",
                    content: response.content.filter {
                        switch $0 {
                        case .other: false
                        // The API refuses a text block of only whitespace sent back to it.
                        case .text(let text): !text.allSatisfy(\.isWhitespace)
                        default: true
                        }
                    }))
            var calls = uses.map { AgentRunState.Call(id: $0.id, name: $0.name, input: $0.input) }
            let asks = calls.indices.filter { index in
                toolbox.tool(named: calls[index].name).map { policies.effective(for: $0, trigger: run.trigger) }
                    == .ask
            }
            // What may run runs now, even when another call of the turn must wait.
            let now = calls.indices.filter { !asks.contains($0) }
            // A write is recorded before it is made, so a run taken up again after a crash knows
            // it was started and does not make it a second time.
            if now.contains(where: { toolbox.tool(named: calls[$0].name)?.risk == .write }) {
                var pending = state
                pending.calls = calls
                for index in now { pending.calls[index].started = true }
                var current = run
                (current.steps, current.usage) = (steps, usage)
                do {
                    try await runs.progress(current, state: pending)
                } catch {
                    throw LoopFailure(
                        message: "The run could not be recorded before acting, so it stopped: \(error)", steps: steps,
                        usage: usage)
                }
                stored = true
            }
            progress.withLock { $0.inFlight = now.map { calls[$0] } }
            let outcomes = await withTaskGroup(of: (Int, ToolOutcome).self) { group in
                for index in now {
                    let call = calls[index]
                    group.addTask { (index, await toolbox.call(call.name, input: call.input)) }
                }
                var outcomes = [Int: ToolOutcome]()
                for await (index, outcome) in group { outcomes[index] = outcome }
                return outcomes
            }
            // Cut off (the deadline, a shutdown) while calls were being made: their answers are
            // cancellations, not outcomes. The run's end records them as interrupted, since a
            // write may have taken effect.
            if Task.isCancelled { throw CancellationError() }
            progress.withLock { $0.inFlight = [] }
            for index in now {
                let outcome = outcomes[index]!
                calls[index].result = outcome
                await record(
                    AgentStep(
                        tool: calls[index].name, input: calls[index].input, isError: outcome.isError,
                        summary: String(outcome.text.prefix(AgentStep.summaryLength))))
            }
            if !asks.isEmpty {
                let created = Date()
                let waiting = asks.map { index in
                    let approval = Approval(
                        id: RandomToken.string(length: 24), runId: run.id, userId: run.userId,
                        toolUseId: calls[index].id, tool: calls[index].name, input: calls[index].input,
                        createdAt: created, expiresAt: created.addingTimeInterval(approvalTimeout.seconds))
                    calls[index].approvalId = approval.id
                    return approval
                }
                state.calls = calls
                return .paused(state, waiting, steps: steps, usage: usage)
            }
            state.messages.append(
                Anthropic.Message(
                    role: "user",
                    content: calls.map { call in
                        .toolResult(toolUseID: call.id, content: call.result!.text, isError: call.result!.isError)
                    }))
            var current = run
            (current.steps, current.usage) = (steps, usage)
            // A stored run keeps its place: were it taken up again, this turn is done.
            try? await runs.progress(current, state: stored ? state : nil)
        }
        return .finished(
            Outcome(
                output: state.texts.joined(separator: "\n\n"), steps: steps, stopReason: "max_steps", usage: usage))
    }

    /// The answer to a call that waited: made when approved (once — a call whose making was
    /// interrupted is not made again), refused when denied or expired.
    private func settle(_ call: AgentRunState.Call, decided: [Approval], toolbox: Toolbox) async -> ToolOutcome {
        guard let approval = decided.first(where: { $0.id == call.approvalId }) else {
            return ToolOutcome(text: "This action was not approved.", isError: true)
        }
        switch approval.status {
        case .approved:
            guard (try? await approvals.markExecuted(id: approval.id)) == true else {
                return ToolOutcome(
                    text:
                        "This approved action was interrupted; it is unknown whether it took effect. Check before trying again.",
                    isError: true)
            }
            return await toolbox.call(call.name, input: call.input)
        case .denied:
            return ToolOutcome(
                text: "The user declined this action, so it was not done. Do not try it another way.", isError: true)
        case .expired, .pending:
            return ToolOutcome(
                text: "The user did not approve this action in time, so it was not done. Do not try it another way.",
                isError: true)
        }
    }

    /// A deadline that ends a run early, keeping what it did.
    protocol AgentStop: Error, CustomStringConvertible {}

    /// The service is stopping and the run did not end within `AGENT_SHUTDOWN_GRACE_SECONDS`.
    struct AgentStopped: AgentStop {
        var description: String {
            "The service was stopped (a restart or an update) before the run finished; what was done is listed, and nothing is done again."
        }
    }

    struct AgentTimeout: AgentStop {
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

extension Duration {
    /// As a `TimeInterval`.
    var seconds: TimeInterval { Double(wholeMilliseconds) / 1000 }
}
