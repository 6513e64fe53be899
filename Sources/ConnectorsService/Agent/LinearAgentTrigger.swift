import Foundation
import Logging
import Shared

/// A Linear agent session (the app delegated an issue, mentioned, or prompted again) starts an
/// agent run: a thought at once (Linear shows the agent as unresponsive without an activity
/// within seconds), an action per tool call and a final response (or an error), through
/// `agentActivityCreate`. Recorded with the event like Slack's, so nothing answers twice. The
/// run acts for the session's creator: the Connectors user whose Linear connection is that
/// Linear user in that organization; anyone else gets a response saying how to connect.
struct LinearAgentTrigger: WebhookHandler {
    let runner: AgentRunner
    let runs: AgentRunRepository
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    /// Where a stranger is sent to connect (`PUBLIC_URL/connections`).
    let connectURL: String
    let logger: Logger

    var handles: [WebhookEventKind] { [.linearAgentSessionCreated, .linearAgentSessionPrompted] }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        let payload = try event.payload.linearAgentSession()
        let session = payload.agentSession
        if payload.agentActivity?.signal == "stop" { return .skipped("the user asked the agent to stop") }
        let key = "webhook:\(event.id)"
        if try await runs.delivered(triggerKey: key) { return .done }
        guard let creator = session.creatorUserId,
            let workspace = try await connections.acting(
                provider: .linear, accountId: payload.organizationId, providerUserId: creator)
        else {
            // Told through the app's token, whoever's connection holds it; nothing runs.
            if let any = try await connections.active(provider: .linear, accountId: payload.organizationId) {
                try await postActivity(
                    try await tokens.accessToken(for: any), session.id,
                    [
                        "type": "response",
                        "body":
                            "I act only for people who connected their own Linear account. Connect yours at \(connectURL), then ask again.",
                    ])
            }
            return .skipped("the session's creator has not connected Linear organization \(payload.organizationId)")
        }
        let prompt = Self.prompt(payload)
        guard !prompt.isEmpty else { return .skipped("an agent session without a prompt") }
        let token = try await tokens.accessToken(for: workspace)
        let earlier = try await runs.finishedUndelivered(triggerKey: key)
        if earlier == nil {
            try await postActivity(token, session.id, ["type": "thought", "body": "Looking into it…"])
        }
        let run: AgentRun
        if let earlier {
            run = earlier
        } else {
            let issue = session.issue?.identifier
            run = try await runner.run(
                AgentRunner.Request(
                    userId: workspace.userId, prompt: prompt, trigger: .linear,
                    situation:
                        "The request came from a Linear agent session\(issue.map { " on issue \($0)" } ?? ""). Your final answer is posted to the session for you.",
                    triggerKey: key, pinned: [.linear: payload.organizationId])
            ) { progress in
                guard case .step(let step) = progress else { return }
                let parameter = String(decoding: (try? JSONEncoder().encode(step.input)) ?? Data(), as: UTF8.self)
                try? await postActivity(
                    token, session.id,
                    [
                        "type": "action", "action": step.tool, "parameter": String(parameter.prefix(500)),
                        "result": step.isError ? "Failed: \(step.summary)" : String(step.summary.prefix(200)),
                    ])
            }
        }
        if run.status == .completed {
            try await postActivity(
                token, session.id, ["type": "response", "body": run.output.isEmpty ? "Done." : run.output])
        } else {
            try await postActivity(token, session.id, ["type": "error", "body": run.error ?? "The run failed."])
        }
        try await runs.markDelivered(runId: run.id)
        return .done
    }

    /// `prompted`: the person's new message; `created`: Linear's own prompt context (issue,
    /// comments, guidance), else the issue and comment themselves.
    static func prompt(_ payload: LinearAgentSessionEvent) -> String {
        if let body = payload.agentActivity?.content?.body, !body.isEmpty { return body }
        if let context = payload.promptContext, !context.isEmpty { return context }
        let issue = payload.agentSession.issue
        return [issue?.title, issue?.description, payload.agentSession.comment?.body].compactMap { $0 }.joined(
            separator: "\n\n")
    }

    private func postActivity(_ token: String, _ session: String, _ content: [String: String]) async throws {
        try await apis.linear.createAgentActivity(token: token, session: session, content: content)
    }
}
