import Foundation
import Logging
import PostgresNIO
import Shared

/// Connections in the `connection` table. Tokens arrive and leave sealed; this type never
/// sees a plaintext token.
struct ConnectionRepository: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    /// Every column, in the order `decode` reads them.
    private static let columns = #""id", "userId", "provider", "accountId", "accountName", "scopes", "status", "accessToken", "refreshToken", "expiresAt", "createdAt", "updatedAt""#

    /// The user's connections, oldest first (served by the `(userId, provider, accountId)` index).
    func list(userId: String) async throws -> [Connection] {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "connection" WHERE "userId" = \#(userId) ORDER BY "createdAt", "id""#,
            logger: logger)
        return try await Self.decode(rows)
    }

    func find(id: String) async throws -> Connection? {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "connection" WHERE "id" = \#(id)"#,
            logger: logger)
        return try await Self.decode(rows).first
    }

    /// Inserts the connection, or — when the user already has this provider account — replaces
    /// its tokens and metadata and keeps the existing id. Returns the stored row.
    func upsert(_ connection: Connection) async throws -> Connection {
        let rows = try await postgres.query("""
            INSERT INTO "connection" ("id", "userId", "provider", "accountId", "accountName", "scopes", "status", "accessToken", "refreshToken", "expiresAt", "createdAt", "updatedAt")
            VALUES (\(connection.id), \(connection.userId), \(connection.provider.rawValue), \(connection.accountId), \(connection.accountName), \(connection.scopes), 'active', \(connection.accessToken), \(connection.refreshToken), \(connection.expiresAt), now(), now())
            ON CONFLICT ("userId", "provider", "accountId") DO UPDATE SET
                "accountName" = excluded."accountName", "scopes" = excluded."scopes", "status" = 'active',
                "accessToken" = excluded."accessToken", "refreshToken" = excluded."refreshToken",
                "expiresAt" = excluded."expiresAt", "updatedAt" = now()
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let stored = try await Self.decode(rows).first else { throw PostgresUpsertError() }
        return stored
    }

    /// Deletes one of the user's connections; nil when it is not theirs (or does not exist).
    func delete(id: String, userId: String) async throws -> Connection? {
        let rows = try await postgres.query(
            #"DELETE FROM "connection" WHERE "id" = \#(id) AND "userId" = \#(userId) RETURNING \#(unescaped: Self.columns)"#,
            logger: logger)
        return try await Self.decode(rows).first
    }

    /// Stores refreshed tokens.
    func updateTokens(id: String, accessToken: String, refreshToken: String?, expiresAt: Date?) async throws {
        try await postgres.query("""
            UPDATE "connection" SET "accessToken" = \(accessToken), "refreshToken" = \(refreshToken),
                "expiresAt" = \(expiresAt), "status" = 'active', "updatedAt" = now()
            WHERE "id" = \(id)
            """, logger: logger)
    }

    func setStatus(id: String, _ status: Connection.Status) async throws {
        try await postgres.query(
            #"UPDATE "connection" SET "status" = \#(status.rawValue), "updatedAt" = now() WHERE "id" = \#(id)"#, logger: logger)
    }

    private static func decode(_ rows: PostgresRowSequence) async throws -> [Connection] {
        var connections = [Connection]()
        for try await (id, userId, provider, accountId, accountName, scopes, status, access, refresh, expiresAt, createdAt, updatedAt) in rows.decode(
            (String, String, String, String, String?, [String], String, String?, String?, Date?, Date, Date).self)
        {
            guard let provider = ProviderID(rawValue: provider), let status = Connection.Status(rawValue: status) else { continue }
            connections.append(Connection(
                id: id, userId: userId, provider: provider, accountId: accountId, accountName: accountName, scopes: scopes,
                status: status, accessToken: access, refreshToken: refresh, expiresAt: expiresAt, createdAt: createdAt, updatedAt: updatedAt))
        }
        return connections
    }
}

struct PostgresUpsertError: Error {}
