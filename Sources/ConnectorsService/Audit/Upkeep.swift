import DB
import Foundation
import Logging
import Shared

/// The connectors service's periodic upkeep.
enum Upkeep {
    /// Deletes pending links nobody claimed within their 10 minutes (they are refused once
    /// expired anyway; this keeps sealed tokens from lingering) and revokes their grants at the
    /// provider: nobody will use them.
    static func pendingLinks(_ links: PendingLinkRepository, revoker: GrantRevoker, logger: Logger) -> PeriodicTask {
        PeriodicTask("pending-link cleanup", every: .seconds(600), firstAfter: .seconds(5), logger: logger) {
            try await sweepPendingLinks(links, revoker: revoker)
        }
    }

    static func sweepPendingLinks(_ links: PendingLinkRepository, revoker: GrantRevoker) async throws {
        for link in try await links.deleteExpired() {
            await revoker.revoke(
                sealed: link.accessToken, id: link.connectionId, provider: link.provider, accountId: link.accountId,
                why: "its link code expired unclaimed")
        }
    }

    /// Deletes audit events older than `AUDIT_RETENTION_DAYS`: the only deletion the trail allows.
    static func auditRetention(_ audit: AuditTrail, days: Int, logger: Logger) -> PeriodicTask {
        PeriodicTask("audit retention", every: .seconds(3600), logger: logger) {
            let removed = try await audit.purge(olderThanDays: days)
            if removed > 0 { logger.info("deleted audit events past retention", metadata: ["count": "\(removed)"]) }
        }
    }

    /// Checks every GitHub installation with a usable connection against GitHub, hourly, on one
    /// replica (whichever takes the hour's lock): heals a lost `installation` delivery.
    static func gitHubInstallations(_ installations: GitHubInstallations, redis: RedisClient, logger: Logger)
        -> PeriodicTask
    {
        let hour = Duration.seconds(3600)
        return PeriodicTask("github reconciliation", every: hour, logger: logger) {
            // Never released: the other replicas skip this hour.
            let lock = RedisLock(redis: redis, key: "github-reconciliation", lifetime: hour - .seconds(60))
            guard try await lock.acquire() else { return }
            let result = try await installations.reconcile()
            logger.info(
                "reconciled GitHub installations",
                metadata: ["checked": "\(result.checked)", "failed": "\(result.failed)"])
        }
    }

    /// Deletes webhook events and agent runs past their retention (`RetentionSettings`): payloads
    /// carry people's messages, and nothing else ever removes them.
    static func retention(
        webhooks: WebhookEventRepository, runs: AgentRunRepository, settings: RetentionSettings, logger: Logger
    ) -> PeriodicTask {
        PeriodicTask("retention", every: .seconds(3600), logger: logger) {
            let removed = try await settings.sweep(webhooks: webhooks, runs: runs, now: Date())
            if removed.events + removed.runs > 0 {
                logger.info(
                    "deleted webhook events and agent runs past retention",
                    metadata: ["events": "\(removed.events)", "runs": "\(removed.runs)"])
            }
        }
    }
}

/// How long the connectors service keeps what it stores, in days.
struct RetentionSettings: Sendable {
    /// Webhook events handled (`done` or `skipped`): `WEBHOOK_RETENTION_DAYS`.
    var webhookDays = 14
    /// Webhook events given up on (`failed`), kept longer to investigate: `WEBHOOK_FAILED_RETENTION_DAYS`.
    var failedWebhookDays = 30
    /// Agent runs that ended: `AGENT_RUN_RETENTION_DAYS`.
    var agentRunDays = 90

    /// One sweep as of `now`.
    func sweep(webhooks: WebhookEventRepository, runs: AgentRunRepository, now: Date, batch: Int = 1000)
        async throws -> (events: Int, runs: Int)
    {
        let events = try await webhooks.purge(
            processedBefore: now.addingTimeInterval(-Self.day * Double(webhookDays)),
            failedBefore: now.addingTimeInterval(-Self.day * Double(failedWebhookDays)), batch: batch)
        let runs = try await runs.purge(
            startedBefore: now.addingTimeInterval(-Self.day * Double(agentRunDays)), batch: batch)
        return (events, runs)
    }

    private static let day: TimeInterval = 86_400
}
