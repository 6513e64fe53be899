import Foundation
import Logging
import Shared

/// A Slack mention or direct message starts an agent run, answered in its thread with
/// `chat.postMessage`. The run acts for the person who wrote: the Connectors user whose Slack
/// connection is that Slack user in that workspace (never whoever connected last); a sender
/// nobody connected is told, privately, how to connect, and nothing runs. The run is recorded with the event, so a redelivered or retried event
/// does not answer twice, and a run whose answer could not be posted is posted on retry, not
/// run (and acted on) again.
struct SlackAgentTrigger: WebhookHandler {
    let runner: AgentRunner
    let runs: AgentRunRepository
    let replies: RunReplies
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    /// Where a stranger is sent to connect (`PUBLIC_URL/connections`).
    let connectURL: String
    /// Single-workspace mode (`SLACK_BOT_TOKEN`): the emails allowed to use the bot. The sender
    /// is then known by the email in their Slack profile, since the shared bot says nothing of
    /// who connected.
    var botUsers: Set<String>? = nil
    let logger: Logger

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
        if let earlier = try await runs.run(triggerKey: key), try await replies.redeliver(earlier) {
            return .done
        }
        // A Slack Connect user of another workspace, writing in a shared channel, is no one here.
        if let userTeam = message.userTeam, userTeam != callback.teamId {
            return .skipped("a user of another workspace")
        }
        guard let sender = message.user else { return .skipped("a message without a sender") }
        let thread = message.threadTs ?? ts
        guard let workspace = try await actingConnection(sender, team: callback.teamId) else {
            try await tellStranger(sender, team: callback.teamId, channel: channel, thread: thread)
            return .skipped("Slack user \(sender) has not connected workspace \(callback.teamId)")
        }
        let prompt = Self.withoutMentions(message.text ?? "")
        guard !prompt.isEmpty else { return .skipped("an empty mention") }
        guard prompt.utf8.count <= AgentRoutes.promptLimit else {
            try await apis.slack.postMessage(
                token: try await tokens.accessToken(for: workspace), channel: channel,
                text: "That request is too long for me (the limit is 32 KiB).", threadTs: thread)
            return .skipped("a prompt over the limit")
        }
        let run: AgentRun
        do {
            run = try await runner.run(
                AgentRunner.Request(
                    userId: workspace.userId, prompt: prompt, trigger: .slack,
                    situation:
                        "The request came from Slack (channel \(channel), thread \(thread)). Your final answer is posted in that thread for you; do not post it with slack_post_message.",
                    triggerKey: key, pinned: [.slack: callback.teamId],
                    replyTo: .slack(team: callback.teamId, channel: channel, thread: thread, user: sender)))
        } catch let refusal as AgentRunner.Refusal {
            try await apis.slack.postMessage(
                token: try await tokens.accessToken(for: workspace), channel: channel, text: refusal.politely,
                threadTs: thread)
            return .skipped("refused: \(refusal)")
        }
        try await replies.send(run)
        return .done
    }

    private func actingConnection(_ sender: String, team: String) async throws -> Connection? {
        guard let botUsers else {
            return try await connections.acting(provider: .slack, accountId: team, providerUserId: sender)
        }
        guard let any = try await connections.active(provider: .slack, accountId: team) else { return nil }
        let email = try await apis.slack.email(ofUser: sender, token: try await tokens.accessToken(for: any))
        guard let email, botUsers.contains(email),
            var connection = try await connections.acting(provider: .slack, accountId: team, verifiedEmail: email)
        else { return nil }
        // The operator's bot connected everyone, so the connection did not know who its owner is
        // in Slack; now Slack has said it. The tools need it to open only this person's channels.
        if connection.identity?.id != sender {
            try await connections.recordIdentity(connection, providerUserId: sender)
            connection.identity = ProviderIdentity(id: sender, name: connection.identity?.name)
        }
        return connection
    }

    /// Only the sender sees it; the bot token is the workspace's, whoever's connection holds it.
    private func tellStranger(_ user: String, team: String, channel: String, thread: String) async throws {
        guard let any = try await connections.active(provider: .slack, accountId: team) else { return }
        let token = try await tokens.accessToken(for: any)
        try await apis.slack.postEphemeral(
            token: token, channel: channel, user: user,
            text:
                "I act only for people who connected their own Slack account. Connect yours at \(connectURL), then ask again.",
            threadTs: thread)
    }

    /// Mentions (`<@U123>`) are addressing, not part of the request.
    static func withoutMentions(_ text: String) -> String {
        text.replacingOccurrences(of: #"<@[A-Z0-9]+>"#, with: "", options: .regularExpression).trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}
