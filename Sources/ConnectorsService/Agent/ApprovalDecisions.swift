import DB
import Foundation

/// A person's decision on an approval, from any surface (the API and console, a Slack button,
/// a Linear reply): recorded once, put on the audit trail, and the run woken to continue.
struct ApprovalDecisions: Sendable {
    let approvals: ApprovalRepository
    let audit: AuditTrail
    /// Wakes this process's resumer (other replicas find the run on their next look).
    let wake: @Sendable () -> Void

    func decide(
        id: String, userId: String, _ decision: Approval.Decision, surface: AuditEvent.Surface, decidedBy: String
    ) async throws -> ApprovalRepository.DecideOutcome {
        let outcome = try await approvals.decide(id: id, userId: userId, decision, decidedBy: decidedBy)
        guard case .decided(let approval) = outcome else { return outcome }
        await audit.record(
            AuditEvent(
                userId: userId, surface: surface, action: "approval.\(approval.status.rawValue)",
                outcome: approval.status.rawValue, tool: approval.tool, target: ToolTarget.describe(approval.input),
                inputSummary: ToolTarget.summary(approval.input), runId: approval.runId, actor: "user",
                decidedBy: decidedBy))
        wake()
        return outcome
    }
}
