import Crypto
import Foundation
import Logging
import PostgresNIO
import Shared

/// One ordered SQL migration.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the SQL text: an applied migration whose file later changes is refused.
    public var checksum: String { Hex.encode(SHA256.hash(data: Array(sql.utf8))) }

    /// The migrations shipped with this build (`Sources/DB/Migrations/NNNN_name.sql`).
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingResources
        }
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
        return try files.map { file in
            let stem = file.deletingPathExtension().lastPathComponent
            let parts = stem.split(separator: "_", maxSplits: 1)
            guard parts.count == 2, let version = Int(parts[0]) else {
                throw MigrationError.badFileName(file.lastPathComponent)
            }
            return Migration(
                version: version, name: String(parts[1]), sql: try String(contentsOf: file, encoding: .utf8))
        }.sorted { $0.version < $1.version }
    }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case missingResources
    case badFileName(String)
    case duplicateVersion(Int)
    case checksumMismatch(version: Int, name: String)
    case unknownApplied(version: Int, name: String)

    public var description: String {
        switch self {
        case .missingResources: "the Migrations resource folder is missing from this build"
        case .badFileName(let file): "migration file \(file) is not named NNNN_name.sql"
        case .duplicateVersion(let version): "two migrations have version \(version)"
        case .checksumMismatch(let version, let name):
            "migration \(version)_\(name) was edited after it was applied; add a new migration instead"
        case .unknownApplied(let version, let name):
            "the database has migration \(version)_\(name), which this build does not know; it is newer than this build"
        }
    }
}

/// Applies pending migrations, each in its own transaction, while holding a PostgreSQL
/// advisory lock so replicas starting together apply each migration exactly once.
public struct Migrator: Sendable {
    /// Arbitrary, fixed: the advisory lock every runner of this schema takes.
    static let lockKey: Int64 = 0x636F_6E6E_6563_7473
    let client: PostgresClient
    let migrations: [Migration]
    let logger: Logger

    public init(client: PostgresClient, migrations: [Migration], logger: Logger) throws {
        var seen = Set<Int>()
        for migration in migrations where !seen.insert(migration.version).inserted {
            throw MigrationError.duplicateVersion(migration.version)
        }
        self.client = client
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies what is pending; returns the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await migrateLocked(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                // Unlock on failure too; if the connection itself broke, PostgreSQL drops the lock.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func migrateLocked(_ connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS "schemaMigration" (
                "version" integer NOT NULL PRIMARY KEY,
                "name" text NOT NULL,
                "checksum" text NOT NULL,
                "appliedAt" timestamptz NOT NULL DEFAULT current_timestamp
            )
            """, logger: logger)
        var recorded = [Int: (name: String, checksum: String)]()
        for try await (version, name, checksum) in try await connection.query(
            #"SELECT "version", "name", "checksum" FROM "schemaMigration""#, logger: logger
        ).decode((Int, String, String).self) {
            recorded[version] = (name, checksum)
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, entry) in recorded.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw MigrationError.unknownApplied(version: version, name: entry.name)
            }
            guard migration.checksum == entry.checksum else {
                throw MigrationError.checksumMismatch(version: version, name: migration.name)
            }
        }
        var applied = [Int]()
        for migration in migrations where recorded[migration.version] == nil {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in SQLScript.statements(in: migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO "schemaMigration" ("version", "name", "checksum")
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            logger.info(
                "applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}
