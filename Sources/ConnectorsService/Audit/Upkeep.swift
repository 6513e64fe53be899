import DB
import Logging
import Shared

/// The connectors service's periodic upkeep.
enum Upkeep {
    /// Deletes pending links nobody claimed within their 10 minutes (they are refused once
    /// expired anyway; this keeps sealed tokens from lingering).
    static func pendingLinks(_ links: PendingLinkRepository, logger: Logger) -> PeriodicTask {
        PeriodicTask("pending-link cleanup", every: .seconds(600), firstAfter: .seconds(5), logger: logger) {
            try await links.deleteExpired()
        }
    }

    /// Deletes audit events older than `AUDIT_RETENTION_DAYS`: the only deletion the trail allows.
    static func auditRetention(_ audit: AuditTrail, days: Int, logger: Logger) -> PeriodicTask {
        PeriodicTask("audit retention", every: .seconds(3600), logger: logger) {
            let removed = try await audit.purge(olderThanDays: days)
            if removed > 0 { logger.info("deleted audit events past retention", metadata: ["count": "\(removed)"]) }
        }
    }
}
