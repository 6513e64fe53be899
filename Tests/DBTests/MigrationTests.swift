import DB
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The migration runner against real PostgreSQL databases.
@Suite struct MigrationTests {
    let logger = Logger(label: "migration-test")

    func tables(_ url: DatabaseURL) async throws -> Set<String> {
        try await TestDatabase.withClient(url) { client in
            var names = Set<String>()
            for try await name in try await client.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
            ).decode(String.self) {
                names.insert(name)
            }
            return names
        }
    }

    func recorded(_ url: DatabaseURL) async throws -> [Int] {
        try await TestDatabase.withClient(url) { client in
            var versions = [Int]()
            for try await version in try await client.query(
                #"SELECT "version" FROM "schemaMigration" ORDER BY "version""#
            ).decode(Int.self) {
                versions.append(version)
            }
            return versions
        }
    }

    @Test func appliesEveryMigrationToAnEmptyDatabase() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let bundled = try Migration.bundled()
        #expect(bundled.map(\.version) == Array(1...12))
        let applied = try await MigrateCommand.migrate(url, logger: logger)
        #expect(applied == Array(1...12))
        #expect(try await recorded(url) == Array(1...12))
        let expected: Set<String> = [
            "user", "session", "account", "verification", "jwks", "connection", "pendingLink", "webhookEvent",
            "agentRun", "schemaMigration", "oauthClient", "oauthResource", "oauthClientResource", "oauthRefreshToken",
            "oauthAccessToken", "oauthConsent", "oauthGrantRevocation", "agentToolPolicy", "agentApproval",
            "auditEvent",
        ]
        #expect(try await tables(url) == expected)
    }

    @Test func runningAgainIsANoOp() async throws {
        let url = try await TestDatabase.create(migrated: true)
        #expect(try await MigrateCommand.migrate(url, logger: logger) == [])
        #expect(try await recorded(url) == Array(1...12))
    }

    @Test func concurrentRunnersApplyEachMigrationOnce() async throws {
        let url = try await TestDatabase.create(migrated: false)
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask { try await MigrateCommand.migrate(url, logger: logger) }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        // Exactly one runner applied both; the others found nothing left to do.
        #expect(results.flatMap { $0 }.sorted() == Array(1...12))
        #expect(results.filter { !$0.isEmpty }.count == 1)
        #expect(try await recorded(url) == Array(1...12))
    }

    @Test func refusesAnEditedAppliedMigration() async throws {
        let url = try await TestDatabase.create(migrated: true)
        var edited = try Migration.bundled()
        edited[0] = Migration(version: 1, name: edited[0].name, sql: edited[0].sql + "\n-- a later edit\n")
        await #expect(throws: MigrationError.checksumMismatch(version: 1, name: "better_auth")) {
            try await MigrateCommand.migrate(url, migrations: edited, logger: logger)
        }
    }

    @Test func refusesADatabaseNewerThanTheBuild() async throws {
        let url = try await TestDatabase.create(migrated: true)
        let older = try Array(Migration.bundled().prefix(1))
        await #expect(throws: MigrationError.unknownApplied(version: 2, name: "connectors")) {
            try await MigrateCommand.migrate(url, migrations: older, logger: logger)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        let url = try await TestDatabase.create(migrated: true)
        let broken =
            try Migration.bundled() + [
                Migration(version: 3, name: "broken", sql: "CREATE TABLE \"half\" (id int); SELECT no_such_function();")
            ]
        await #expect(throws: (any Error).self) {
            try await MigrateCommand.migrate(url, migrations: broken, logger: logger)
        }
        #expect(try await recorded(url) == Array(1...12))
        #expect(try await !tables(url).contains("half"))
        // The lock was released: a later run can proceed.
        #expect(try await MigrateCommand.migrate(url, logger: logger) == [])
    }

    @Test func adoptsAnExistingBetterAuthDatabase() async throws {
        // A database Better Auth created (its tables, a user in them) before we ever ran.
        let url = try await TestDatabase.create(migrated: false)
        let betterAuth = try Migration.bundled()[0]
        try await TestDatabase.withClient(url) { client in
            try await client.withConnection { connection in
                for statement in SQLScript.statements(in: betterAuth.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    #"INSERT INTO "user" ("id", "name", "email", "emailVerified") VALUES ('u1', 'Ada', 'ada@example.com', true)"#,
                    logger: logger)
            }
        }
        #expect(try await MigrateCommand.migrate(url, logger: logger) == Array(1...12))
        let count = try await TestDatabase.withClient(url) { client in
            var total = 0
            for try await value in try await client.query(#"SELECT count(*)::int FROM "user""#).decode(Int.self) {
                total = value
            }
            return total
        }
        #expect(count == 1)
    }

    /// Better Auth before 1.4 had no "jwks"."expiresAt"; its database must still work as is.
    @Test func adoptsABetterAuthDatabaseFromBeforeKeyExpiry() async throws {
        let url = try await TestDatabase.create(migrated: false)
        try await TestDatabase.withClient(url) { client in
            try await client.query(
                #"CREATE TABLE "jwks" ("id" text NOT NULL PRIMARY KEY, "publicKey" text NOT NULL, "privateKey" text NOT NULL, "createdAt" timestamptz NOT NULL)"#
            )
            try await client.query(
                #"INSERT INTO "jwks" ("id", "publicKey", "privateKey", "createdAt") VALUES ('k1', '{}', 'theirs', now())"#
            )
        }
        #expect(try await MigrateCommand.migrate(url, logger: logger) == Array(1...12))
        let (rows, expiry) = try await TestDatabase.withClient(url) { client in
            var result = (0, "")
            for try await (count, type) in try await client.query(
                #"SELECT (SELECT count(*)::int FROM "jwks" WHERE "expiresAt" IS NULL), (SELECT data_type::text FROM information_schema.columns WHERE table_name = 'jwks' AND column_name = 'expiresAt')"#
            ).decode((Int, String).self) { result = (count, type) }
            return result
        }
        #expect(rows == 1)
        #expect(expiry == "timestamp with time zone")
    }

    @Test func enforcesTheConnectorsConstraints() async throws {
        let url = try await TestDatabase.create(migrated: true)
        try await TestDatabase.withClient(url) { client in
            try await client.query(
                #"INSERT INTO "user" ("id", "name", "email", "emailVerified") VALUES ('u1', 'Ada', 'ada@example.com', true)"#
            )
            try await client.query(
                #"INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload") VALUES ('slack', 'Ev1', 'event_callback', '{}')"#
            )
            // The dedupe key is unique per provider …
            await #expect(throws: PSQLError.self) {
                try await client.query(
                    #"INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload") VALUES ('slack', 'Ev1', 'event_callback', '{}')"#
                )
            }
            // … but the same key from another provider is another event.
            try await client.query(
                #"INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload") VALUES ('linear', 'Ev1', 'Issue', '{}')"#
            )
            await #expect(throws: PSQLError.self) {
                try await client.query(
                    #"INSERT INTO "connection" ("id", "userId", "provider", "accountId", "status") VALUES ('c1', 'u1', 'linear', 'org', 'weird')"#
                )
            }
            // Deleting a user deletes their connections.
            try await client.query(
                #"INSERT INTO "connection" ("id", "userId", "provider", "accountId") VALUES ('c1', 'u1', 'linear', 'org')"#
            )
            try await client.query(#"DELETE FROM "user" WHERE "id" = 'u1'"#)
            var remaining = -1
            for try await value in try await client.query(#"SELECT count(*)::int FROM "connection""#).decode(Int.self) {
                remaining = value
            }
            #expect(remaining == 0)
        }
    }
}
