import DB
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
    let replies: RunReplies
    let decisions: ApprovalDecisions
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
        if let earlier = try await runs.run(triggerKey: key), try await replies.redeliver(earlier) { return .done }
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
        let token = try await tokens.accessToken(for: workspace)
        let paused = try await runs.awaiting(linearSession: session.id).flatMap {
            $0.userId == workspace.userId ? $0 : nil
        }
        // Anyone in the organization can write in a session, but its runs act with the creator's
        // rights: only the creator directs it, with a new prompt or an approval answer.
        if let activity = payload.agentActivity, activity.userId != creator {
            if paused == nil {
                try await postActivity(
                    token, session.id,
                    [
                        "type": "response",
                        "body":
                            "I act for the person who started this session, so only they can ask me here. To ask me yourself, delegate an issue to me or mention me.",
                    ])
            }
            return .skipped("a prompt from someone other than the session's creator")
        }
        // A run of this session waits for a decision: this prompt is the answer.
        if let paused {
            return try await answer(paused, with: Self.prompt(payload), token: token, session: session.id, by: creator)
        }
        let prompt = Self.prompt(payload)
        guard !prompt.isEmpty else { return .skipped("an agent session without a prompt") }
        try await postActivity(token, session.id, ["type": "thought", "body": "Looking into it…"])
        let issue = session.issue?.identifier
        let request = AgentRunner.Request(
            userId: workspace.userId, prompt: AgentRoutes.clipped(prompt), trigger: .linear,
            situation:
                "The request came from a Linear agent session\(issue.map { " on issue \($0)" } ?? ""). Your final answer is posted to the session for you.",
            triggerKey: key, pinned: [.linear: payload.organizationId],
            replyTo: .linear(organization: payload.organizationId, session: session.id))
        let run: AgentRun
        do {
            run = try await runner.run(request) { progress in
                guard case .step(let step) = progress else { return }
                var running = AgentRun(id: "", userId: workspace.userId, trigger: .linear, prompt: "")
                running.replyTo = request.replyTo
                await replies.step(step, of: running)
            }
        } catch let refusal as AgentRunner.Refusal {
            try await postActivity(token, session.id, ["type": "response", "body": refusal.politely])
            return .skipped("refused: \(refusal)")
        }
        try await replies.send(run)
        return .done
    }

    /// `approve`/`yes` or `deny`/`no` (any case) decides every approval the run waits for;
    /// anything else is asked again.
    private func answer(_ paused: AgentRun, with text: String, token: String, session: String, by linearUser: String)
        async throws
        -> WebhookOutcome
    {
        let word = text.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters)).lowercased()
        let decision: Approval.Decision? =
            switch word {
            case "approve", "yes": .approve
            case "deny", "no": .deny
            default: nil
            }
        guard let decision else {
            try await postActivity(
                token, session,
                ["type": "elicitation", "body": "Please reply **approve** (or yes) or **deny** (or no)."])
            return .skipped("an answer that is neither approve nor deny")
        }
        for approval in try await runs.find(id: paused.id, userId: paused.userId)?.approvals ?? [] {
            _ = try await decisions.decide(
                id: approval.id, userId: paused.userId, decision, surface: .linear,
                decidedBy: "linear:\(linearUser)")
        }
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
