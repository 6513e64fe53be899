import Foundation
import Logging
import MCP
import Shared

/// Agent runs started by webhooks, through the worker: a Slack mention or DM is answered in its
/// thread with `chat.postMessage`; a Linear agent session gets a thought at once, an action per
/// tool call and a final response (or an error) through `agentActivityCreate`. Each event's run
/// is recorded with the event, so a redelivered or retried event does not answer twice, and a
/// run whose answer could not be posted is posted on retry, not run (and acted on) again.
struct AgentTriggers: Sendable {
    let runner: AgentRunner
    let runs: AgentRunRepository
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let http: ProviderHTTP
    let urls: ProviderAPIURLs
    let logger: Logger

    /// Slack's text limit for one message is far above this; long answers stay readable.
    static let slackReplyLimit = 3_900

    func register(into handlers: inout WebhookHandlers) {
        handlers.registered["slack app_mention"] = { try await slack($0) }
        handlers.registered["slack message"] = { try await slack($0) }
        handlers.registered["linear AgentSessionEvent.created"] = { try await linear($0) }
        handlers.registered["linear AgentSessionEvent.prompted"] = { try await linear($0) }
    }

    // MARK: Slack

    func slack(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard let message = event.payload["event"] as? [String: Any] else { throw WebhookHandlers.Malformed(description: "Slack event without `event`") }
        // Never answer a bot (ourselves included) or an edit, deletion or other message subtype.
        if message["bot_id"] != nil { return .skipped("a bot's message") }
        if let subtype = message["subtype"] as? String { return .skipped("message subtype \(subtype)") }
        if message["type"] as? String == "message", message["channel_type"] as? String != "im" { return .skipped("not a direct message") }
        guard let team = event.payload["team_id"] as? String, let channel = message["channel"] as? String,
              let ts = message["ts"] as? String else {
            throw WebhookHandlers.Malformed(description: "Slack message without team, channel or ts")
        }
        let key = "webhook:\(event.id)"
        if try await runs.delivered(triggerKey: key) { return .done }
        guard let workspace = try await connections.active(provider: .slack, accountId: team) else {
            return .skipped("no user has connected Slack workspace \(team)")
        }
        let thread = message["thread_ts"] as? String ?? ts
        let prompt = Self.withoutMentions(message["text"] as? String ?? "")
        guard !prompt.isEmpty else { return .skipped("an empty mention") }
        let run: AgentRun
        if let earlier = try await runs.finishedUndelivered(triggerKey: key) {
            run = earlier
        } else {
            run = try await runner.run(AgentRunner.Request(
                userId: workspace.userId, prompt: prompt, trigger: .slack,
                situation: "The request came from Slack (channel \(channel), thread \(thread)). Your final answer is posted in that thread for you; do not post it with slack_post_message.",
                triggerKey: key))
        }
        let text = run.status == .completed
            ? (run.output.isEmpty ? "Done." : run.output)
            : "Sorry, I could not finish that: \(run.error ?? "the run failed")."
        let token = try await tokens.accessToken(for: workspace)
        _ = try await SlackTools.call(ToolAccess(http: http, urls: urls, token: token), "chat.postMessage", [
            ("channel", channel), ("thread_ts", thread), ("text", String(text.prefix(Self.slackReplyLimit))),
        ])
        try await runs.markDelivered(runId: run.id)
        return .done
    }

    /// Mentions (`<@U123>`) are addressing, not part of the request.
    static func withoutMentions(_ text: String) -> String {
        text.replacingOccurrences(of: #"<@[A-Z0-9]+>"#, with: "", options: .regularExpression).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Linear

    func linear(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard let session = event.payload["agentSession"] as? [String: Any], let sessionID = session["id"] as? String,
              let organization = event.payload["organizationId"] as? String else {
            throw WebhookHandlers.Malformed(description: "AgentSessionEvent without agentSession.id or organizationId")
        }
        let activity = event.payload["agentActivity"] as? [String: Any]
        if activity?["signal"] as? String == "stop" { return .skipped("the user asked the agent to stop") }
        let key = "webhook:\(event.id)"
        if try await runs.delivered(triggerKey: key) { return .done }
        guard let workspace = try await connections.active(provider: .linear, accountId: organization) else {
            return .skipped("no user has connected Linear organization \(organization)")
        }
        let prompt = Self.linearPrompt(event.payload, session: session, activity: activity)
        guard !prompt.isEmpty else { return .skipped("an agent session without a prompt") }
        let token = try await tokens.accessToken(for: workspace)
        let access = ToolAccess(http: http, urls: urls, token: token)
        let issue = (session["issue"] as? [String: Any])?["identifier"] as? String
        let earlier = try await runs.finishedUndelivered(triggerKey: key)
        // Linear shows the agent as unresponsive without an activity within seconds.
        if earlier == nil { try await postActivity(access, sessionID, ["type": "thought", "body": "Looking into it…"]) }
        let run: AgentRun
        if let earlier {
            run = earlier
        } else {
            run = try await runner.run(AgentRunner.Request(
                userId: workspace.userId, prompt: prompt, trigger: .linear,
                situation: "The request came from a Linear agent session\(issue.map { " on issue \($0)" } ?? ""). Your final answer is posted to the session for you.",
                triggerKey: key)) { progress in
                guard case .step(let step) = progress else { return }
                let parameter = String(decoding: (try? JSONEncoder().encode(step.input)) ?? Data(), as: UTF8.self)
                try? await postActivity(access, sessionID, [
                    "type": "action", "action": step.tool, "parameter": String(parameter.prefix(500)),
                    "result": step.isError ? "Failed: \(step.summary)" : String(step.summary.prefix(200)),
                ])
            }
        }
        if run.status == .completed {
            try await postActivity(access, sessionID, ["type": "response", "body": run.output.isEmpty ? "Done." : run.output])
        } else {
            try await postActivity(access, sessionID, ["type": "error", "body": run.error ?? "The run failed."])
        }
        try await runs.markDelivered(runId: run.id)
        return .done
    }

    /// `created`: Linear's own prompt context (issue, comments, guidance); `prompted`: the
    /// user's new message.
    static func linearPrompt(_ payload: [String: Any], session: [String: Any], activity: [String: Any]?) -> String {
        if let body = (activity?["content"] as? [String: Any])?["body"] as? String, !body.isEmpty { return body }
        if let context = payload["promptContext"] as? String, !context.isEmpty { return context }
        let issue = session["issue"] as? [String: Any]
        let comment = (session["comment"] as? [String: Any])?["body"] as? String
        return [issue?["title"] as? String, issue?["description"] as? String, comment].compactMap { $0 }.joined(separator: "\n\n")
    }

    private func postActivity(_ access: ToolAccess, _ session: String, _ content: [String: String]) async throws {
        _ = try await LinearTools.graphQL(access, """
            mutation($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success agentActivity { id } } }
            """, ["input": ["agentSessionId": session, "content": content]])
    }
}
