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
/// after the token was issued. A token is admitted only against a list read in the last minute
/// (the bound on how long a revoked grant may keep working): after a restart, or while reloads
/// fail, the list is read before the token is checked, and a request that cannot read it fails.
final class GrantRevocations: Service, Sendable {
    private struct Snapshot {
        var grants = Set<String>()
        /// client id + user id → the latest revocation.
        var clients = [String: Date]()
        /// When the query that read this began; nil before the first read.
        var readAt: Date?
    }

    static let staleAfter: TimeInterval = 60

    let postgres: Postgres
    let interval: Duration
    let logger: Logger
    private let snapshot = Mutex(Snapshot())

    init(postgres: Postgres, interval: Duration = .seconds(10), logger: Logger) {
        self.postgres = postgres
        self.interval = interval
        self.logger = logger
    }

    func isRevoked(_ grant: ResourceGrant, userId: String, now: Date = Date()) async throws -> Bool {
        let stale = snapshot.withLock { $0.readAt.map { now.timeIntervalSince($0) >= Self.staleAfter } ?? true }
        if stale { try await reload(now: now) }
        return snapshot.withLock { snapshot in
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
        var next = Snapshot(readAt: now)
        for try await (clientId, userId, grantId, revokedAt) in rows.decode((String, String, String?, Date).self) {
            if let grantId {
                next.grants.insert(grantId)
            } else {
                let key = Self.key(clientId, userId)
                next.clients[key] = max(next.clients[key] ?? revokedAt, revokedAt)
            }
        }
        // A slower read that began earlier does not replace a newer one.
        snapshot.withLock { if ($0.readAt ?? .distantPast) <= now { $0 = next } }
    }

    static func key(_ clientId: String, _ userId: String) -> String { clientId + "\u{1F}" + userId }
}
