import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// Connections in the `connection` table. Tokens arrive and leave sealed; this type never
/// sees a plaintext token.
///
/// Every change here marks the users' cached connection lists stale after it commits, and is
/// recorded on the audit trail with who or what made it; a change made elsewhere (`attach`, in
/// the link transaction) does both itself.
struct ConnectionRepository: Sendable {
    let postgres: Postgres
    let listCache: ConnectionListCache
    let audit: AuditTrail
    let logger: Logger

    /// Every column, in the order `decode` reads them.
    private static let columns =
        #""id", "userId", "provider", "accountId", "accountName", "providerUserId", "providerUserName", "scopes", "status", "accessToken", "refreshToken", "expiresAt", "createdAt", "updatedAt", "statusReason""#

    /// The same, qualified by the table alias `c` (for joins).
    private static let qualifiedColumns = columns.split(separator: ",").map {
        "c." + $0.trimmingCharacters(in: .whitespaces)
    }.joined(separator: ", ")

    /// The user's connections, oldest first (served by the `(userId, provider, accountId)` index).
    /// A prepared statement: the hot read of every console page, planned once per connection.
    func list(userId: String) async throws -> [Connection] {
        var connections = [Connection]()
        for row in try await postgres.execute(ListConnections(userId: userId), logger: logger) {
            if let connection = Self.connection(row) { connections.append(connection) }
        }
        return connections
    }

    typealias Row = (
        String, String, String, String, String?, String?, String?, [String], String, String?, String?, Date?, Date,
        Date,
        String?
    )

    struct ListConnections: PostgresPreparedStatement {
        static let sql =
            #"SELECT "id", "userId", "provider", "accountId", "accountName", "providerUserId", "providerUserName", "scopes", "status", "accessToken", "refreshToken", "expiresAt", "createdAt", "updatedAt", "statusReason" FROM "connection" WHERE "userId" = $1 ORDER BY "createdAt", "id""#
        typealias Row = ConnectionRepository.Row
        var userId: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(userId)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    func find(id: String) async throws -> Connection? {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "connection" WHERE "id" = \#(id)"#,
            logger: logger)
        return try await Self.decode(rows).first
    }

    /// Inserts the connection, or — when the user already has this provider account — replaces
    /// its tokens and metadata, keeping the existing id. Returns the stored row. Runs on
    /// `connection` so it can be part of a transaction.
    static func upsert(_ row: Connection, on connection: PostgresConnection, logger: Logger) async throws -> Connection
    {
        let rows = try await connection.query(
            """
            INSERT INTO "connection" ("id", "userId", "provider", "accountId", "accountName", "providerUserId", "providerUserName", "scopes", "status", "accessToken", "refreshToken", "expiresAt", "createdAt", "updatedAt", "statusReason")
            VALUES (\(row.id), \(row.userId), \(row.provider.rawValue), \(row.accountId), \(row.accountName), \(row.identity?.id), \(row.identity?.name), \(row.scopes), 'active', \(row.accessToken), \(row.refreshToken), \(row.expiresAt), now(), now(), NULL)
            ON CONFLICT ("userId", "provider", "accountId") DO UPDATE SET
                "accountName" = excluded."accountName", "scopes" = excluded."scopes", "status" = 'active',
                "providerUserId" = excluded."providerUserId", "providerUserName" = excluded."providerUserName",
                "statusReason" = NULL,
                "accessToken" = excluded."accessToken", "refreshToken" = excluded."refreshToken",
                "expiresAt" = excluded."expiresAt", "updatedAt" = now()
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let stored = try await decode(rows).first else { throw PostgresUpsertError() }
        return stored
    }

    /// Serialises, until `connection`'s transaction ends, whatever else links this user to
    /// this provider account.
    static func lockLink(
        userId: String, provider: ProviderID, accountId: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let key = "connection-attach:\(userId):\(provider.rawValue):\(accountId)"
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 0))", logger: logger)
    }

    /// Tells every replica the user's list changed, after a change committed elsewhere (a link
    /// runs in the claim's transaction). Every invalidation of the list cache goes through here.
    func listChanged(userId: String) async {
        await listCache.invalidate([userId])
    }

    /// The id of the user's connection to this provider account, if there is one.
    static func existingID(
        userId: String, provider: ProviderID, accountId: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> String? {
        let rows = try await connection.query(
            #"SELECT "id" FROM "connection" WHERE "userId" = \#(userId) AND "provider" = \#(provider.rawValue) AND "accountId" = \#(accountId)"#,
            logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }

    /// The one active connection made by this person at the provider (`providerUserId` in the
    /// workspace or organization `accountId`): whom an event they sent acts for. nil when there
    /// is none — or more than one (two Connectors accounts claiming the same person): never a guess.
    func acting(provider: ProviderID, accountId: String, providerUserId: String) async throws -> Connection? {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "connection"
            WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId)
              AND "providerUserId" = \(providerUserId) AND "status" = 'active'
            LIMIT 2
            """, logger: logger)
        let found = try await Self.decode(rows)
        return found.count == 1 ? found[0] : nil
    }

    /// The active connection to `accountId` of the Connectors user with this verified email
    /// (single-workspace Slack, where the operator's bot connects everyone and Slack's own
    /// profile email says who wrote).
    func acting(provider: ProviderID, accountId: String, verifiedEmail email: String) async throws -> Connection? {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.qualifiedColumns)
            FROM "connection" c JOIN "user" u ON u."id" = c."userId"
            WHERE c."provider" = \(provider.rawValue) AND c."accountId" = \(accountId) AND c."status" = 'active'
              AND lower(u."email") = \(email.lowercased()) AND u."emailVerified"
            LIMIT 2
            """, logger: logger)
        let found = try await Self.decode(rows)
        return found.count == 1 ? found[0] : nil
    }

    /// Records who made a connection at the provider once the provider vouched for it
    /// (single-workspace Slack: the sender's Slack profile email is this person's verified, listed
    /// email), so tools can narrow the shared bot token to that person's conversations.
    /// On the audit trail like every change to whom a connection acts for.
    func recordIdentity(_ connection: Connection, providerUserId: String) async throws {
        let rows = try await postgres.query(
            """
            UPDATE "connection" SET "providerUserId" = \(providerUserId), "updatedAt" = now()
            WHERE "id" = \(connection.id) AND "providerUserId" IS DISTINCT FROM \(providerUserId) RETURNING "userId"
            """, logger: logger)
        let changed = try await Self.userIds(rows)
        guard !changed.isEmpty else { return }
        await listCache.invalidate(changed)
        await record(
            connection, "connection.identity_recorded", surface: .slack, actor: "slack:\(providerUserId)",
            detail: "Slack user \(providerUserId), vouched for by the profile email")
    }

    /// The most recently updated active connection to a provider account (a Slack workspace, a
    /// Linear organization), whoever made it — for the account's shared app or bot token only
    /// (to tell a stranger how to connect, to ask Slack who wrote), never to decide whom to act for.
    /// Every active connection made by this person at the provider, in any account.
    func active(provider: ProviderID, providerUserId: String) async throws -> [Connection] {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "connection"
            WHERE "provider" = \(provider.rawValue) AND "providerUserId" = \(providerUserId) AND "status" = 'active'
            """, logger: logger)
        return try await Self.decode(rows)
    }

    func active(provider: ProviderID, accountId: String) async throws -> Connection? {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "connection"
            WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId) AND "status" = 'active'
            ORDER BY "updatedAt" DESC LIMIT 1
            """, logger: logger)
        return try await Self.decode(rows).first
    }

    /// Deletes one of the user's connections; nil when it is not theirs (or does not exist).
    func delete(id: String, userId: String) async throws -> Connection? {
        let rows = try await postgres.query(
            #"DELETE FROM "connection" WHERE "id" = \#(id) AND "userId" = \#(userId) RETURNING \#(unescaped: Self.columns)"#,
            logger: logger)
        let deleted = try await Self.decode(rows).first
        if let deleted {
            await listCache.invalidate([userId])
            await record(deleted, "connection.disconnected", surface: .api, actor: "user")
        }
        return deleted
    }

    /// Stores refreshed tokens, only while the connection is still active: a revocation that
    /// landed during the refresh (a webhook) stands. Returns false when it did.
    func updateTokens(id: String, accessToken: String, refreshToken: String?, expiresAt: Date?) async throws -> Bool {
        let rows = try await postgres.query(
            """
            UPDATE "connection" SET "accessToken" = \(accessToken), "refreshToken" = \(refreshToken),
                "expiresAt" = \(expiresAt), "updatedAt" = now()
            WHERE "id" = \(id) AND "status" = 'active' RETURNING "userId"
            """, logger: logger)
        let users = try await Self.userIds(rows)
        await listCache.invalidate(users)
        return !users.isEmpty
    }

    /// Moves every connection to `account` into `status`; rows already there are left alone
    /// (unless their reason is one of `superseding`), so a webhook handled twice (at-least-once
    /// delivery) changes them once, and a connection revoked for one cause keeps saying so.
    /// Returns how many changed. `actor` says what made the change (the webhook event, for the
    /// audit trail); `reason` is what the person is told.
    @discardableResult
    func setStatus(
        provider: ProviderID, accountId: String, _ status: Connection.Status, reason: String? = nil,
        superseding: [String] = [], onlyActive: Bool = false, actor: String
    ) async throws -> Int {
        let rows = try await postgres.query(
            """
            UPDATE "connection" SET "status" = \(status.rawValue), "updatedAt" = now(),
              "statusReason" = CASE WHEN \(status.rawValue) = 'active' THEN NULL ELSE COALESCE(\(reason)::text, "statusReason") END
            WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId)
              AND ("status" <> \(status.rawValue) OR "statusReason" = ANY(\(superseding)))
              AND (NOT \(onlyActive) OR "status" = 'active')
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        return try await recordChanges(rows, status, actor: actor, detail: reason)
    }

    /// Makes active again the connections to `account` revoked for `reason` (and only those: a
    /// connection revoked or awaiting reauthorisation for another cause stays as it is).
    @discardableResult
    func reactivate(provider: ProviderID, accountId: String, revokedFor reason: String, actor: String) async throws
        -> Int
    {
        let rows = try await postgres.query(
            """
            UPDATE "connection" SET "status" = 'active', "statusReason" = NULL, "updatedAt" = now()
            WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId) AND "status" = 'revoked'
              AND "statusReason" = \(reason)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        return try await recordChanges(rows, .active, actor: actor, detail: nil)
    }

    private func recordChanges(_ rows: PostgresRowSequence, _ status: Connection.Status, actor: String, detail: String?)
        async throws -> Int
    {
        let changed = try await Self.decode(rows)
        await listCache.invalidate(changed.map(\.userId))
        for connection in changed {
            await record(connection, Self.action(status), surface: .system, actor: actor, detail: detail)
        }
        return changed.count
    }

    func setStatus(id: String, _ status: Connection.Status, reason: String? = nil, actor: String) async throws {
        let rows = try await postgres.query(
            #"UPDATE "connection" SET "status" = \#(status.rawValue), "statusReason" = \#(reason), "updatedAt" = now() WHERE "id" = \#(id) RETURNING \#(unescaped: Self.columns)"#,
            logger: logger)
        let changed = try await Self.decode(rows)
        await listCache.invalidate(changed.map(\.userId))
        for connection in changed {
            await record(connection, Self.action(status), surface: .system, actor: actor, detail: reason)
        }
    }

    /// `connection.revoked`, `connection.reauth_required`, `connection.reactivated`.
    static func action(_ status: Connection.Status) -> String {
        status == .active ? "connection.reactivated" : "connection.\(status.rawValue)"
    }

    /// Puts a change to `connection` on the audit trail (never its tokens).
    func record(
        _ connection: Connection, _ action: String, surface: AuditEvent.Surface, actor: String, detail: String? = nil
    ) async {
        await audit.record(
            AuditEvent(
                userId: connection.userId, surface: surface, action: action, outcome: "ok",
                target: "\(connection.provider.rawValue) \(connection.accountName ?? connection.accountId)",
                inputSummary: detail, actor: actor))
    }

    /// The `"userId"` of each row a change returned.
    private static func userIds(_ rows: PostgresRowSequence) async throws -> [String] {
        var userIds = [String]()
        for try await userId in rows.decode(String.self) { userIds.append(userId) }
        return userIds
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [Connection] {
        var connections = [Connection]()
        for try await row in rows.decode(Row.self) {
            if let connection = connection(row) { connections.append(connection) }
        }
        return connections
    }

    private static func connection(_ row: Row) -> Connection? {
        let (
            id, userId, provider, accountId, accountName, identityId, identityName, scopes, status, access, refresh,
            expiresAt, createdAt, updatedAt, statusReason
        ) = row
        guard let provider = ProviderID(rawValue: provider), let status = Connection.Status(rawValue: status) else {
            return nil
        }
        return Connection(
            id: id, userId: userId, provider: provider, accountId: accountId, accountName: accountName,
            identity: identityId.map { ProviderIdentity(id: $0, name: identityName) }, scopes: scopes,
            status: status, accessToken: access, refreshToken: refresh, expiresAt: expiresAt, createdAt: createdAt,
            updatedAt: updatedAt, statusReason: statusReason)
    }
}

struct PostgresUpsertError: Error {}
