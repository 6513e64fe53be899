import Logging
import ServiceLifecycle

/// Deletes pending links nobody claimed within their 10 minutes (they are refused once expired
/// anyway; this keeps sealed tokens from lingering). Every replica may run it: the delete is
/// idempotent.
struct PendingLinkSweeper: Service {
    let links: PendingLinkRepository
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await links.deleteExpired()
            } catch {
                logger.warning("could not delete expired pending links", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
