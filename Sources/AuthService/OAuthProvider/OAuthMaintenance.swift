import HTTPTypes
import Foundation
import Logging
import ServiceLifecycle

/// Hourly upkeep of the authorization server's tables: expired refresh tokens and revocations
/// go, and dynamically registered clients nobody authorized within 30 days are deleted.
struct OAuthMaintenance: Service {
    let clients: OAuthClientRepository
    let grants: OAuthGrantRepository
    let settings: OAuthServerSettings
    let logger: Logger
    var interval: Duration = .seconds(3600)

    func run() async throws {
        // Not at start-up: nothing here is urgent, and a start-up that fails should say only why.
        try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: min(interval, .seconds(60))) }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await grants.sweep()
                let removed = try await clients.deleteUnused(
                    registeredBefore: Date().addingTimeInterval(-settings.unusedClientLifetime))
                if removed > 0 { logger.info("deleted unused OAuth clients", metadata: ["count": "\(removed)"]) }
            } catch {
                if !Task.isCancelled {
                    logger.warning("OAuth upkeep failed; it runs again later", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }
}
