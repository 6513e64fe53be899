import Foundation
import MCP

/// One run of the assistant: who asked, from where, what the model did and what it answered.
struct AgentRun: Sendable {
    enum Status: String, Codable, Sendable {
        case running, completed, failed
    }

    enum Trigger: String, Codable, Sendable {
        case api, slack, linear, mcp
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
/// usage: {inputTokens, outputTokens}}`, plus `error` when it failed.
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
    let output: String
    let steps: [Step]
    let usage: Usage
    let error: String?

    init(_ run: AgentRun) {
        id = run.id
        status = run.status
        output = run.output
        steps = run.steps.map { Step(tool: $0.tool, input: $0.input, isError: $0.isError) }
        usage = Usage(inputTokens: run.usage.inputTokens, outputTokens: run.usage.outputTokens)
        error = run.error
    }
}
