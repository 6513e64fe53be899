import DB
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Shared
import Synchronization

/// The MCP grants that were revoked, read from the auth service's `oauthGrantRevocation` table
/// every few seconds: access tokens are JWTs verified locally, so this is how removing a
/// connected app (or a replayed code or refresh token) ends them before they expire. A token is
/// revoked when its grant (`sid`) is, or when its client's access for its user was revoked at or
/// after the token was issued.
final class GrantRevocations: Service, Sendable {
    private struct Snapshot {
        var grants = Set<String>()
        /// client id + user id → the latest revocation.
        var clients = [String: Date]()
    }

    let postgres: Postgres
    let interval: Duration
    let logger: Logger
    private let snapshot = Mutex(Snapshot())

    init(postgres: Postgres, interval: Duration = .seconds(10), logger: Logger) {
        self.postgres = postgres
        self.interval = interval
        self.logger = logger
    }

    func isRevoked(_ grant: ResourceGrant, userId: String) -> Bool {
        snapshot.withLock { snapshot in
            if snapshot.grants.contains(grant.grantId) { return true }
            guard let revokedAt = snapshot.clients[Self.key(grant.clientId, userId)] else { return false }
            return revokedAt.timeIntervalSince1970 >= TimeInterval(grant.issuedAt)
        }
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await reload()
            } catch {
                if !Task.isCancelled {
                    logger.warning("could not read revoked MCP grants; retrying", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    func reload(now: Date = Date()) async throws {
        let rows = try await postgres.query(
            """
            SELECT "clientId", "userId", "grantId", "revokedAt" FROM "oauthGrantRevocation" WHERE "expiresAt" > \(now)
            """, logger: logger)
        var next = Snapshot()
        for try await (clientId, userId, grantId, revokedAt) in rows.decode((String, String, String?, Date).self) {
            if let grantId {
                next.grants.insert(grantId)
            } else {
                let key = Self.key(clientId, userId)
                next.clients[key] = max(next.clients[key] ?? revokedAt, revokedAt)
            }
        }
        snapshot.withLock { $0 = next }
    }

    static func key(_ clientId: String, _ userId: String) -> String { clientId + "\u{1F}" + userId }
}
