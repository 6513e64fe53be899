import DB
import Foundation
import Logging
import ServiceLifecycle
import Shared

/// Continues paused runs once every approval they wait for is decided, on any replica. A
/// decision made here wakes it at once; otherwise it looks every `poll` (decisions made on
/// another replica, approvals that expired). Each pass also expires due approvals (recorded on
/// the audit trail), puts back runs whose process died, and leases resumable runs (so two
/// replicas never continue the same one) up to `concurrency` at a time. A triggered run's
/// answer, or its next question, goes where it came from.
struct AgentResumer: Service {
    struct Settings: Sendable {
        var concurrency = 4
        var poll: Duration = .seconds(5)
    }

    let runner: AgentRunner
    let replies: RunReplies
    let events: RunEvents
    let audit: AuditTrail
    let settings: Settings
    let logger: Logger
    let wakeup = WakeSignal()
    let id = "resumer-" + RandomToken.string(length: 12)

    var runs: AgentRunRepository { runner.runs }

    /// A decision was made: look now.
    func wake() { wakeup.fire() }

    func run() async throws {
        let inProgress = LockedBox(0)
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                await pass(group: &group, inProgress: inProgress)
                await cancelWhenGracefulShutdown { await wakeup.wait(upTo: settings.poll) }
            }
        }
    }

    private func pass(group: inout DiscardingTaskGroup, inProgress: LockedBox<Int>) async {
        do {
            for approval in try await runner.approvals.expireDue() {
                await audit.record(
                    AuditEvent(
                        userId: approval.userId, surface: .system, action: "approval.expired", outcome: "declined",
                        tool: approval.tool, target: ToolTarget.describe(approval.input),
                        inputSummary: ToolTarget.summary(approval.input), runId: approval.runId, actor: "expiry",
                        decidedBy: "expiry"))
            }
            try await runs.reclaimStale()
            let capacity = settings.concurrency - inProgress.withLock { $0 }
            guard capacity > 0 else { return }
            for run in try await runs.claimResumable(
                worker: id, limit: capacity, lease: runner.lease, limits: runner.limits)
            {
                inProgress.withLock { $0 += 1 }
                group.addTask {
                    await proceed(run)
                    inProgress.withLock { $0 -= 1 }
                    wake()
                }
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("could not look for runs to resume", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Continues one run and says where it came from how it went.
    func proceed(_ run: AgentRun) async {
        let emit = events.emitter(for: run.id)
        let stopped = await runner.resume(run) { event in
            await emit(event)
            if case .step(let step) = event { await replies.step(step, of: run) }
        }
        events.publish(.stopped(stopped), run: run.id)
        guard stopped.replyTo != nil else { return }
        // The run is stored either way; only the message is retried here.
        for attempt in 1...3 {
            do {
                try await replies.send(stopped)
                return
            } catch {
                logger.warning(
                    "could not send a resumed run's reply",
                    metadata: ["run": "\(run.id)", "attempt": "\(attempt)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(2 * attempt))
            }
        }
    }
}
