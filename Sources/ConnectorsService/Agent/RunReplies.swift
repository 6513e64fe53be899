import Foundation
import Logging
import MCP
import Shared

/// What a triggered run says where it came from, whichever process ends or pauses it: the
/// answer in the Slack thread or the Linear session, or — while it waits — the question to the
/// person who asked (Slack: an ephemeral message with Approve/Deny buttons that only they see;
/// Linear: an `elicitation` activity answered by their next prompt).
///
/// Linear activities name a tool and its target only, never its input or result: a session is
/// read by everyone in the organization, and what the agent read stays with the person.
struct RunReplies: Sendable {
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    let runs: AgentRunRepository
    let logger: Logger

    /// Slack's text limit for one message is far above this; long answers stay readable.
    static let replyLimit = 3_900

    /// Sends what the run's state calls for: its questions while it waits, else its answer
    /// (then recorded as delivered).
    func send(_ run: AgentRun) async throws {
        guard let target = run.replyTo else { return }
        if run.status == .awaitingApproval {
            try await ask(run, target)
            return
        }
        guard run.status != .running else { return }
        switch target {
        case .slack(let team, let channel, let thread, _):
            let text =
                run.status == .completed
                ? (run.output.isEmpty ? "Done." : run.output)
                : "Sorry, I could not finish that: \(run.error ?? "the run failed")."
            try await apis.slack.postMessage(
                token: try await token(run.userId, .slack, team), channel: channel,
                text: String(text.prefix(Self.replyLimit)), threadTs: thread)
        case .linear(let organization, let session):
            let content =
                run.status == .completed
                ? ["type": "response", "body": run.output.isEmpty ? "Done." : run.output]
                : ["type": "error", "body": run.error ?? "The run failed."]
            try await apis.linear.createAgentActivity(
                token: try await token(run.userId, .linear, organization), session: session, content: content)
        }
        try await runs.markDelivered(runId: run.id)
    }

    /// An earlier attempt's run for this event: its answer or question is sent (again) rather
    /// than running — and acting — again. False when it died while running and should run again.
    func redeliver(_ earlier: AgentRun) async throws -> Bool {
        if earlier.deliveredAt != nil { return true }
        switch earlier.status {
        case .completed, .failed:
            try await send(earlier)
            return true
        case .awaitingApproval:
            if let paused = try await runs.find(id: earlier.id, userId: earlier.userId) { try await send(paused) }
            return true
        case .running:
            // Resumed after a decision (the resumer answers) or still running elsewhere.
            if earlier.state != nil { return true }
            return try await runs.isLeased(earlier.id)
        }
    }

    /// A finished tool call, told to a Linear session as an `action` (name and target only).
    func step(_ step: AgentStep, of run: AgentRun) async {
        guard case .linear(let organization, let session) = run.replyTo else { return }
        try? await apis.linear.createAgentActivity(
            token: try await token(run.userId, .linear, organization), session: session,
            content: [
                "type": "action", "action": step.tool, "parameter": ToolTarget.describe(step.input) ?? "",
                "result": step.isError ? "Failed" : "Done",
            ])
    }

    private func ask(_ run: AgentRun, _ target: ReplyTarget) async throws {
        switch target {
        case .slack(let team, let channel, let thread, let user):
            let token = try await token(run.userId, .slack, team)
            for approval in run.approvals {
                let (text, blocks) = Self.slackQuestion(approval)
                try await apis.slack.postEphemeral(
                    token: token, channel: channel, user: user, text: text, threadTs: thread, blocks: blocks)
            }
        case .linear(let organization, let session):
            let token = try await token(run.userId, .linear, organization)
            let actions = run.approvals.map { "- " + Self.describe($0) }.joined(separator: "\n")
            try await apis.linear.createAgentActivity(
                token: token, session: session,
                content: [
                    "type": "elicitation",
                    "body":
                        "Before I go on, I need your approval for:\n\(actions)\n\nReply **approve** (or yes) to go ahead, or **deny** (or no).",
                ])
        }
    }

    /// "Create a GitHub issue in acme/app".
    static func describe(_ approval: Approval) -> String {
        let title = ToolRegistry.tool(named: approval.tool)?.title ?? approval.tool
        return ToolTarget.describe(approval.input).map { "\(title) (\($0))" } ?? title
    }

    /// The ephemeral question: the action, its input in brief, and two buttons carrying the
    /// approval's id.
    static func slackQuestion(_ approval: Approval) -> (text: String, blocks: String) {
        let text = "Approve this action? \(describe(approval))"
        let blocks: Value = [
            [
                "type": "section", "block_id": "approval_question",
                "text": [
                    "type": "mrkdwn",
                    "text": .string(
                        "*Approve this action?*\n\(describe(approval))\n```\(ToolTarget.summary(approval.input, limit: 600))```"
                    ),
                ],
            ],
            [
                "type": "actions", "block_id": "approval",
                "elements": [
                    [
                        "type": "button", "action_id": "approve", "style": "primary", "value": .string(approval.id),
                        "text": ["type": "plain_text", "text": "Approve"],
                    ],
                    [
                        "type": "button", "action_id": "deny", "style": "danger", "value": .string(approval.id),
                        "text": ["type": "plain_text", "text": "Deny"],
                    ],
                ],
            ],
        ]
        return (text, ToolJSON.text(blocks))
    }

    /// The token of the run's owner's connection to that account (a triggered run acts there).
    private func token(_ userId: String, _ provider: ProviderID, _ account: String) async throws -> String {
        let connection = try await connections.list(userId: userId).first {
            $0.provider == provider && $0.accountId == account && $0.status == .active
        }
        guard let connection else {
            throw ToolFailure("The \(provider.rawValue) connection to \(account) is no longer active.")
        }
        return try await tokens.accessToken(for: connection)
    }
}
