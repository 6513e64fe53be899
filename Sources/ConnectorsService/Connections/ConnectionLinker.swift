import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// Makes the connection a callback parked under a link code the caller's own: claims the
/// pending link (single use, bound to the user who started the flow), stores it as their
/// connection — updating their existing connection to the same provider account, its id kept
/// and the tokens resealed for it — in one transaction, then tells every replica the user's
/// list changed.
struct ConnectionLinker: Sendable {
    let links: PendingLinkRepository
    let connections: ConnectionRepository
    let sealer: TokenSealer
    let logger: Logger

    /// Throws `PendingLinkRepository.ClaimError` for an unknown, used, expired or foreign code.
    func link(code: String, provider: ProviderID, userId: String, fromThisBrowser: Bool) async throws -> Connection {
        let stored = try await links.claim(
            codeHash: SignedToken.digest(code), provider: provider, userId: userId, fromThisBrowser: fromThisBrowser
        ) {
            link, connection in
            try await attach(link, to: userId, on: connection)
        }
        // Committed: the user's list changed.
        await connections.listChanged(userId: userId)
        await connections.record(stored, "connection.connected", surface: .api, actor: "user")
        return stored
    }

    private func attach(_ link: PendingLink, to userId: String, on connection: PostgresConnection) async throws
        -> Connection
    {
        // Two links of one account by one user at once (two tabs) would both miss the existing
        // row, and the second upsert would keep the first's id with tokens sealed for its own:
        // unreadable. Serialised here (the lock lasts until the claim's transaction ends).
        try await ConnectionRepository.lockLink(
            userId: userId, provider: link.provider, accountId: link.accountId, on: connection, logger: logger)
        let id =
            try await ConnectionRepository.existingID(
                userId: userId, provider: link.provider, accountId: link.accountId, on: connection, logger: logger)
            ?? link.connectionId
        var access = link.accessToken
        var refresh = link.refreshToken
        if id != link.connectionId {
            access = try sealer.seal(
                sealer.open(access, id: link.connectionId, provider: link.provider), id: id, provider: link.provider)
            refresh = try sealer.seal(
                sealer.open(refresh, id: link.connectionId, provider: link.provider), id: id, provider: link.provider)
        }
        let now = Date()
        let row = Connection(
            id: id, userId: userId, provider: link.provider, accountId: link.accountId, accountName: link.accountName,
            identity: link.identity, scopes: link.scopes, status: .active, accessToken: access, refreshToken: refresh,
            expiresAt: link.expiresAt,
            createdAt: now, updatedAt: now)
        return try await ConnectionRepository.upsert(row, on: connection, logger: logger)
    }
}
