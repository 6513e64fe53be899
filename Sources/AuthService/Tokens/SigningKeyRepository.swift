import DB
import CryptoExtras
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Shared

/// Signing keys in Better Auth's `jwks` table: the public JWK as JSON, the private key sealed.
struct SigningKeyRepository: Sendable {
    /// Serialises key creation across replicas (any fixed number not used elsewhere).
    static let lockKey: Int64 = 0x6A77_6B73_6372_6561
    let postgres: Postgres
    let vault: KeyVault
    let logger: Logger

    struct Row: Sendable {
        let id: String
        let privateKey: String
        let createdAt: Date
        let expiresAt: Date?
    }

    /// Creates the first key if there is none; replicas starting together create exactly one.
    func ensureKey(now: Date = Date()) async throws {
        try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            let rows = try await connection.query(
                #"SELECT count(*)::int FROM "jwks" WHERE "privateKey" LIKE 'v1.%' AND ("expiresAt" IS NULL OR "expiresAt" > \#(now))"#,
                logger: logger)
            var count = 0
            for try await value in rows.decode(Int.self) { count = value }
            guard count == 0 else { return }
            try await insert(try await Self.generate(), connection: connection, now: now)
            logger.notice("created the first JWT signing key")
        }
    }

    /// Adds a new key (published at once) and schedules every older key to stop being
    /// published once the tokens it may still sign have expired (see `SigningKeys`).
    func rotate(retireAfter: TimeInterval, now: Date = Date()) async throws -> String {
        let key = try await Self.generate()
        return try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            try await connection.query(
                #"UPDATE "jwks" SET "expiresAt" = \#(now.addingTimeInterval(retireAfter)) WHERE "expiresAt" IS NULL"#,
                logger: logger)
            return try await insert(key, connection: connection, now: now)
        }
    }

    func all() async throws -> [Row] {
        var result = [Row]()
        let rows = try await postgres.query(
            #"SELECT "id", "privateKey", "createdAt", "expiresAt" FROM "jwks" ORDER BY "createdAt""#, logger: logger)
        for try await (id, privateKey, createdAt, expiresAt) in rows.decode((String, String, Date, Date?).self) {
            result.append(Row(id: id, privateKey: privateKey, createdAt: createdAt, expiresAt: expiresAt))
        }
        return result
    }

    /// Deletes keys whose publication period is over.
    func deleteExpired(now: Date = Date()) async throws {
        try await postgres.query(
            #"DELETE FROM "jwks" WHERE "expiresAt" IS NOT NULL AND "expiresAt" <= \#(now)"#, logger: logger)
    }

    @discardableResult
    private func insert(_ key: _RSA.Signing.PrivateKey, connection: PostgresConnection, now: Date) async throws
        -> String
    {
        let id = AuthID.make()
        let jwk = SigningKey(id: id, privateKey: key, createdAt: now, expiresAt: nil).publicJWK
        let publicJSON = String(decoding: try JSONEncoder().encode(jwk), as: UTF8.self)
        let sealed = try vault.seal(key, id: id)
        try await connection.query(
            """
            INSERT INTO "jwks" ("id", "publicKey", "privateKey", "createdAt") VALUES (\(id), \(publicJSON), \(sealed), \(now))
            """, logger: logger)
        return id
    }

    /// RSA key generation is CPU-heavy: done on the blocking pool.
    static func generate() async throws -> _RSA.Signing.PrivateKey {
        try await NIOThreadPool.singleton.runIfActive { try _RSA.Signing.PrivateKey(keySize: .bits2048) }
    }
}
