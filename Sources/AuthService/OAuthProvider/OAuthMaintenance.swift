import Foundation
import Logging
import Shared

/// Hourly upkeep of the authorization server's tables: expired refresh tokens and revocations
/// go, and dynamically registered clients nobody authorized within 30 days are deleted.
enum OAuthMaintenance {
    static func task(
        clients: OAuthClientRepository, grants: OAuthGrantRepository, settings: OAuthServerSettings, logger: Logger
    ) -> PeriodicTask {
        PeriodicTask("OAuth upkeep", every: .seconds(3600), logger: logger) {
            try await grants.sweep()
            let removed = try await clients.deleteUnused(
                registeredBefore: Date().addingTimeInterval(-settings.unusedClientLifetime))
            if removed > 0 { logger.info("deleted unused OAuth clients", metadata: ["count": "\(removed)"]) }
        }
    }
}
