import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// An OAuth callback's result, waiting for the signed-in user to claim it with a one-time
/// link code. Its tokens are already sealed for `connectionId`.
struct PendingLink: Sendable {
    var connectionId: String
    var provider: ProviderID
    /// The user whose JWT started the flow, if one did: only they may claim it.
    var boundUserId: String?
    var accountId: String
    var accountName: String?
    var identity: ProviderIdentity?
    var scopes: [String]
    var accessToken: String?
    var refreshToken: String?
    var expiresAt: Date?
}

/// `pendingLink` rows, keyed by the SHA-256 of the link code.
struct PendingLinkRepository: Sendable {
    let postgres: Postgres
    let logger: Logger
    var lifetime: TimeInterval = 600

    func insert(_ link: PendingLink, codeHash: String, now: Date = Date()) async throws {
        try await postgres.query(
            """
            INSERT INTO "pendingLink" ("codeHash", "connectionId", "provider", "boundUserId", "accountId", "accountName", "providerUserId", "providerUserName", "scopes", "accessToken", "refreshToken", "expiresAt", "linkExpiresAt")
            VALUES (\(codeHash), \(link.connectionId), \(link.provider.rawValue), \(link.boundUserId), \(link.accountId), \(link.accountName), \(link.identity?.id), \(link.identity?.name), \(link.scopes), \(link.accessToken), \(link.refreshToken), \(link.expiresAt), \(now.addingTimeInterval(lifetime)))
            """, logger: logger)
    }

    enum ClaimError: Error { case notFound, boundToAnotherUser, finishedInAnotherBrowser }

    /// In one transaction: finds the unexpired link for this code and provider (locking it),
    /// refuses it when bound to someone else, or — bound to nobody — when the claim does not come
    /// from the browser that finished the flow (and leaves it), deletes it, and hands it to
    /// `attach`, whose work commits with the deletion or not at all.
    func claim<T: Sendable>(
        codeHash: String, provider: ProviderID, userId: String, fromThisBrowser: Bool, now: Date = Date(),
        attach: @escaping @Sendable (PendingLink, PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await transaction(
                codeHash: codeHash, provider: provider, userId: userId, fromThisBrowser: fromThisBrowser, now: now,
                attach: attach)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    private func transaction<T: Sendable>(
        codeHash: String, provider: ProviderID, userId: String, fromThisBrowser: Bool, now: Date,
        attach: @escaping @Sendable (PendingLink, PostgresConnection) async throws -> T
    ) async throws -> T {
        try await postgres.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT "connectionId", "provider", "boundUserId", "accountId", "accountName", "providerUserId", "providerUserName", "scopes", "accessToken", "refreshToken", "expiresAt"
                FROM "pendingLink" WHERE "codeHash" = \(codeHash) AND "linkExpiresAt" > \(now) FOR UPDATE
                """, logger: logger)
            var found: PendingLink?
            for try await (
                connectionId, providerName, bound, accountId, accountName, identityId, identityName, scopes, access,
                refresh, expiresAt
            ) in rows.decode(
                (String, String, String?, String, String?, String?, String?, [String], String?, String?, Date?).self)
            {
                guard let rowProvider = ProviderID(rawValue: providerName) else { continue }
                found = PendingLink(
                    connectionId: connectionId, provider: rowProvider, boundUserId: bound, accountId: accountId,
                    accountName: accountName, identity: identityId.map { ProviderIdentity(id: $0, name: identityName) },
                    scopes: scopes, accessToken: access, refreshToken: refresh,
                    expiresAt: expiresAt)
            }
            guard let link = found, link.provider == provider else { throw ClaimError.notFound }
            if let bound = link.boundUserId, bound != userId { throw ClaimError.boundToAnotherUser }
            if link.boundUserId == nil, !fromThisBrowser { throw ClaimError.finishedInAnotherBrowser }
            try await connection.query(#"DELETE FROM "pendingLink" WHERE "codeHash" = \#(codeHash)"#, logger: logger)
            return try await attach(link, connection)
        }
    }

    /// Drops links nobody claimed in time; returns what each held (its sealed token, to revoke).
    @discardableResult
    func deleteExpired(now: Date = Date()) async throws -> [(
        connectionId: String, provider: ProviderID, accountId: String, accessToken: String?
    )] {
        let rows = try await postgres.query(
            #"DELETE FROM "pendingLink" WHERE "linkExpiresAt" <= \#(now) RETURNING "connectionId", "provider", "accountId", "accessToken""#,
            logger: logger)
        var dropped = [(connectionId: String, provider: ProviderID, accountId: String, accessToken: String?)]()
        for try await (id, provider, account, token) in rows.decode((String, String, String, String?).self) {
            if let provider = ProviderID(rawValue: provider) { dropped.append((id, provider, account, token)) }
        }
        return dropped
    }
}
