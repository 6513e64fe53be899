import Foundation
import Logging
import Shared

/// Hands out a connection's access token in the clear, refreshing it first when it expires
/// within `refreshAhead`. A refresh runs under a per-connection Redis lock, so concurrent
/// requests on any replica cause one refresh (rotating refresh tokens would otherwise be spent
/// twice); the others wait for its result. `invalid_grant` marks the connection
/// `reauth_required`.
struct ConnectionTokens: Sendable {
    enum Failure: Error, Equatable {
        case notFound, reauthRequired, revoked
        case unavailable(String)
    }

    let connections: ConnectionRepository
    let sealer: TokenSealer
    let providers: ProviderRegistry
    let redis: RedisClient
    let logger: Logger
    var refreshAhead: TimeInterval = 10 * 60
    var lockLifetime: Duration = .seconds(30)
    var waitLimit: Duration = .seconds(15)

    func accessToken(connectionId: String) async throws -> String {
        try await accessToken(for: try await load(connectionId))
    }

    /// The same for a connection row the caller has just read (no second read unless it must
    /// be refreshed).
    func accessToken(for connection: Connection) async throws -> String {
        switch connection.status {
        case .active: break
        case .reauthRequired: throw Failure.reauthRequired
        case .revoked: throw Failure.revoked
        }
        if !needsRefresh(connection) { return try open(connection) }
        return try await refresh(connection.id)
    }

    private func refresh(_ id: String) async throws -> String {
        let lock = RedisLock(redis: redis, key: "connection-refresh:" + id, lifetime: lockLifetime)
        let deadline = ContinuousClock.now + waitLimit
        while true {
            if try await lock.acquire() {
                do {
                    let token = try await refreshHoldingLock(id)
                    await lock.release()
                    return token
                } catch {
                    await lock.release()
                    throw error
                }
            }
            // Someone else is refreshing: use their result once it is stored.
            try await Task.sleep(for: .milliseconds(50))
            let connection = try await load(id)
            if !needsRefresh(connection) { return try open(connection) }
            guard ContinuousClock.now < deadline else {
                throw Failure.unavailable("timed out waiting for another refresh")
            }
        }
    }

    private func refreshHoldingLock(_ id: String) async throws -> String {
        // Read again under the lock: a refresh that just finished elsewhere is reused.
        let connection = try await load(id)
        if !needsRefresh(connection) { return try open(connection) }
        guard let provider = providers.provider(connection.provider) else {
            throw Failure.unavailable("\(connection.provider.rawValue) is not configured")
        }
        let refreshToken = try sealer.open(connection.refreshToken, id: id, provider: connection.provider)
        let tokens: ProviderTokens
        do {
            tokens = try await provider.refresh(refreshToken: refreshToken, accountId: connection.accountId)
        } catch .invalidGrant {
            // A GitHub connection from before user tokens has no refresh token: it acted as the App.
            let reason =
                connection.provider == .github && refreshToken == nil
                ? "Made before Connectors acted as you on GitHub: connect GitHub again."
                : "\(connection.provider.rawValue.capitalized) refused to renew access: connect again."
            try await connections.setStatus(id: id, .reauthRequired, reason: reason, actor: "token refresh")
            logger.warning(
                "a connection's refresh token was refused; the user must connect again",
                metadata: ["connection": "\(id)"])
            throw Failure.reauthRequired
        } catch {
            // Refreshing early is a courtesy: while the stored token is unexpired it still works.
            if let expiresAt = connection.expiresAt, expiresAt > Date() {
                logger.warning(
                    "could not refresh a connection early; using its current token",
                    metadata: ["connection": "\(id)", "error": "\(error)"])
                return try open(connection)
            }
            throw Failure.unavailable("\(error)")
        }
        // Both tokens in one UPDATE: a crash cannot leave a spent refresh token stored.
        let stored = try await connections.updateTokens(
            id: id, accessToken: try sealer.seal(tokens.accessToken, id: id, provider: connection.provider) ?? "",
            refreshToken: try sealer.seal(tokens.refreshToken, id: id, provider: connection.provider),
            expiresAt: tokens.expiresAt)
        // Revoked or marked for reconnection while we refreshed: that stands.
        guard stored else { _ = try await load(id); throw Failure.revoked }
        return tokens.accessToken
    }

    private func load(_ id: String) async throws -> Connection {
        guard let connection = try await connections.find(id: id) else { throw Failure.notFound }
        switch connection.status {
        case .active: return connection
        case .reauthRequired: throw Failure.reauthRequired
        case .revoked: throw Failure.revoked
        }
    }

    private func needsRefresh(_ connection: Connection, now: Date = Date()) -> Bool {
        guard let expiresAt = connection.expiresAt else { return false }
        return expiresAt.timeIntervalSince(now) < refreshAhead
    }

    private func open(_ connection: Connection) throws -> String {
        guard let token = try sealer.open(connection.accessToken, id: connection.id, provider: connection.provider)
        else {
            throw Failure.reauthRequired
        }
        return token
    }
}
