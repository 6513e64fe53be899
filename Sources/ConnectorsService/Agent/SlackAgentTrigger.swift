import Foundation
import Logging
import Shared

/// A Slack mention or direct message starts an agent run, answered in its thread with
/// `chat.postMessage`. The run is recorded with the event, so a redelivered or retried event
/// does not answer twice, and a run whose answer could not be posted is posted on retry, not
/// run (and acted on) again.
struct SlackAgentTrigger: WebhookHandler {
    let runner: AgentRunner
    let runs: AgentRunRepository
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    let logger: Logger

    /// Slack's text limit for one message is far above this; long answers stay readable.
    static let replyLimit = 3_900

    var handles: [WebhookEventKind] { [.slackAppMention, .slackMessage] }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        let callback = try event.payload.slack()
        guard let message = callback.event else {
            throw MalformedWebhookEvent(description: "Slack event without `event`")
        }
        // Never answer a bot (ourselves included) or an edit, deletion or other message subtype.
        if message.botId != nil { return .skipped("a bot's message") }
        if let subtype = message.subtype { return .skipped("message subtype \(subtype)") }
        if message.type == "message", message.channelType != "im" { return .skipped("not a direct message") }
        guard let channel = message.channel, let ts = message.ts else {
            throw MalformedWebhookEvent(description: "Slack message without team, channel or ts")
        }
        let key = "webhook:\(event.id)"
        if try await runs.delivered(triggerKey: key) { return .done }
        guard let workspace = try await connections.active(provider: .slack, accountId: callback.teamId) else {
            return .skipped("no user has connected Slack workspace \(callback.teamId)")
        }
        let thread = message.threadTs ?? ts
        let prompt = Self.withoutMentions(message.text ?? "")
        guard !prompt.isEmpty else { return .skipped("an empty mention") }
        let run: AgentRun
        if let earlier = try await runs.finishedUndelivered(triggerKey: key) {
            run = earlier
        } else {
            run = try await runner.run(
                AgentRunner.Request(
                    userId: workspace.userId, prompt: prompt, trigger: .slack,
                    situation:
                        "The request came from Slack (channel \(channel), thread \(thread)). Your final answer is posted in that thread for you; do not post it with slack_post_message.",
                    triggerKey: key))
        }
        let text =
            run.status == .completed
            ? (run.output.isEmpty ? "Done." : run.output)
            : "Sorry, I could not finish that: \(run.error ?? "the run failed")."
        let token = try await tokens.accessToken(for: workspace)
        try await apis.slack.postMessage(
            token: token, channel: channel, text: String(text.prefix(Self.replyLimit)), threadTs: thread)
        try await runs.markDelivered(runId: run.id)
        return .done
    }

    /// Mentions (`<@U123>`) are addressing, not part of the request.
    static func withoutMentions(_ text: String) -> String {
        text.replacingOccurrences(of: #"<@[A-Z0-9]+>"#, with: "", options: .regularExpression).trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}
