import DB
import Foundation
import MCP
import Shared

/// One run of the assistant: who asked, from where, what the model did and what it answered.
struct AgentRun: Sendable {
    enum Status: String, Codable, Sendable {
        case running, completed, failed
        /// Paused before a tool call its owner must approve; stored whole (`state`).
        case awaitingApproval = "awaiting_approval"
    }

    enum Trigger: String, Codable, Sendable {
        case api, slack, linear, mcp

        var surface: AuditEvent.Surface {
            switch self {
            case .api: .api
            case .slack: .slack
            case .linear: .linear
            case .mcp: .mcp
            }
        }
    }

    var id: String
    var userId: String
    var status: Status = .running
    var trigger: Trigger
    var prompt: String
    /// The webhook event that started it, if one did.
    var triggerKey: String?
    var output = ""
    var steps: [AgentStep] = []
    var stopReason: String?
    var error: String?
    var usage = Anthropic.Usage()
    /// Where a triggered run's answer and questions go.
    var replyTo: ReplyTarget?
    /// The conversation so far, kept while the run waits for a decision.
    var state: AgentRunState?
    var createdAt = Date()
    var finishedAt: Date?
    var deliveredAt: Date?
    /// The pending approvals of a paused run (read with the run, for its view).
    var approvals: [Approval] = []
    /// Who holds the run while it runs (`lockedBy`): writes by anyone else — a process that
    /// lost its lease — change nothing.
    var owner: String?
}

/// Where a triggered run answers: a Slack thread (and the person who asked, who alone may
/// approve), or a Linear agent session.
enum ReplyTarget: Codable, Sendable, Equatable {
    case slack(team: String, channel: String, thread: String, user: String)
    case linear(organization: String, session: String)

    /// The workspace the request came from (`slack:T…`, `linear:<org>`): its runs at once are bounded.
    var workspace: String {
        switch self {
        case .slack(let team, _, _, _): "slack:\(team)"
        case .linear(let organization, _): "linear:\(organization)"
        }
    }
}

/// A paused run's continuation: what it was asked to do and the conversation with the model up
/// to the turn whose tool calls wait (`calls`, with the results of those already made).
struct AgentRunState: Codable, Sendable, Equatable {
    struct Call: Codable, Sendable, Equatable {
        var id: String
        var name: String
        var input: Value
        var result: ToolOutcome?
        /// The approval it waits for, when it needs one.
        var approvalId: String?
        /// Recorded as being made, before it was: taken up again without a result, it is not
        /// made a second time.
        var started: Bool?
    }

    var maxSteps: Int
    var tools: [String]?
    /// Provider → account, for a triggered run.
    var pinned: [String: String]
    var situation: String?
    var messages: [Anthropic.Message]
    /// Model turns taken.
    var turn: Int
    var texts: [String]
    var calls: [Call]

    init(_ request: AgentRunner.Request) {
        maxSteps = request.maxSteps
        tools = request.tools
        pinned = Dictionary(uniqueKeysWithValues: request.pinned.map { ($0.key.rawValue, $0.value) })
        situation = request.situation
        messages = [Anthropic.Message(role: "user", content: [.text(request.prompt)])]
        turn = 0
        texts = []
        calls = []
    }

    var pinnedAccounts: [ProviderID: String] {
        Dictionary(
            uniqueKeysWithValues: pinned.compactMap { key, value in ProviderID(rawValue: key).map { ($0, value) } })
    }
}

/// A tool call: its input is kept, its output only summarised (runs are not a copy of the
/// user's data), and never a token.
struct AgentStep: Codable, Sendable, Equatable {
    var tool: String
    var input: Value
    var isError: Bool
    var summary: String

    static let summaryLength = 300
}

/// The run as the API answers it: `{id, status, output, steps: [{tool, input, isError}],
/// usage: {inputTokens, outputTokens}}`, plus `error` when it failed and `approvals` while it
/// waits.
struct AgentRunView: Encodable, Sendable {
    struct Step: Encodable, Sendable {
        let tool: String
        let input: Value
        let isError: Bool
    }

    struct Usage: Encodable, Sendable {
        let inputTokens: Int
        let outputTokens: Int
    }

    let id: String
    let status: AgentRun.Status
    let trigger: AgentRun.Trigger
    let output: String
    let steps: [Step]
    let usage: Usage
    let error: String?
    let approvals: [ApprovalView]?
    let createdAt: String

    init(_ run: AgentRun) {
        id = run.id
        status = run.status
        trigger = run.trigger
        output = run.output
        steps = run.steps.map { Step(tool: $0.tool, input: $0.input, isError: $0.isError) }
        usage = Usage(inputTokens: run.usage.inputTokens, outputTokens: run.usage.outputTokens)
        error = run.error
        approvals = run.status == .awaitingApproval ? run.approvals.map(ApprovalView.init) : nil
        createdAt = JSTime.string(run.createdAt)
    }
}

/// A run in the history list: no steps, the prompt cut short.
struct AgentRunSummary: Encodable, Sendable {
    let id: String
    let status: AgentRun.Status
    let trigger: AgentRun.Trigger
    let prompt: String
    let usage: AgentRunView.Usage
    let createdAt: String
    let finishedAt: String?

    init(_ run: AgentRun) {
        id = run.id
        status = run.status
        trigger = run.trigger
        prompt = run.prompt.count > 200 ? String(run.prompt.prefix(199)) + "…" : run.prompt
        usage = .init(inputTokens: run.usage.inputTokens, outputTokens: run.usage.outputTokens)
        createdAt = JSTime.string(run.createdAt)
        finishedAt = run.finishedAt.map(JSTime.string)
    }
}
