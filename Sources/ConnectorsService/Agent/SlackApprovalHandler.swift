import DB
import Foundation
import Logging
import Shared

/// A click on an approval's Approve or Deny button in Slack. Only the person who asked decides:
/// the clicker must be the Slack user (and workspace) the run answers. Anyone else is told so,
/// privately, and nothing changes. The message with the buttons is replaced by the outcome,
/// through the interaction's `response_url`.
struct SlackApprovalHandler: WebhookHandler {
    let approvals: ApprovalRepository
    let runs: AgentRunRepository
    let decisions: ApprovalDecisions
    let apis: ProviderAPIs
    /// Where `response_url`s may point: Slack's hooks host, or the configured Slack API's
    /// origin (a test or a proxy). A signed payload is Slack's, but the URL is checked anyway.
    let slackAPI: String
    let logger: Logger

    var handles: [WebhookEventKind] { [.slackBlockActions] }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        let interaction = try event.payload.slackInteraction()
        guard let action = interaction.actions?.first, action.blockId == "approval",
            let decision = Approval.Decision(rawValue: action.actionId), let id = action.value
        else { return .skipped("not an approval button") }
        guard let approval = try await approvals.find(id: id),
            let run = try await runs.find(id: approval.runId, userId: approval.userId),
            case .slack(let team, _, _, let requester) = run.replyTo
        else { return .skipped("an approval that no longer exists") }
        let clicker = interaction.user
        guard clicker.id == requester, (clicker.teamId ?? interaction.team?.id) == team else {
            try await respond(
                interaction,
                SlackResponseMessage(
                    text: "Only <@\(requester)>, who asked, can approve or deny this.", replace_original: false,
                    response_type: "ephemeral"))
            return .skipped("a click by someone other than the requester")
        }
        let outcome = try await decisions.decide(
            id: id, userId: approval.userId, decision, surface: .slack, decidedBy: "slack:\(clicker.id)")
        let described = RunReplies.describe(approval)
        let text =
            switch outcome {
            case .decided(let decided) where decided.status == .approved: "Approved: \(described). Going ahead."
            case .decided: "Denied: \(described). I will not do it."
            case .alreadyDecided(let status): "This was already \(status.rawValue): \(described)."
            case .notFound: "This approval no longer exists."
            }
        try await respond(interaction, SlackResponseMessage(text: text, replace_original: true))
        return .done
    }

    private func respond(_ interaction: SlackInteraction, _ message: SlackResponseMessage) async throws {
        guard let url = interaction.responseUrl, Self.allowed(url, slackAPI: slackAPI) else {
            logger.warning("a Slack interaction without a usable response_url")
            return
        }
        try await apis.slack.respond(to: url, message)
    }

    static func allowed(_ responseURL: String, slackAPI: String) -> Bool {
        guard let url = URLComponents(string: responseURL), let host = url.host else { return false }
        if url.scheme == "https", host == "hooks.slack.com", url.port == nil { return true }
        guard let api = URLComponents(string: slackAPI) else { return false }
        return url.scheme == api.scheme && host == api.host && url.port == api.port
    }
}
