import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The webhook queue with real `ConnectorsService` processes: replicas share it, and a killed
/// process loses nothing.
@Suite struct WebhookWorkerProcessTests {
    func insertEvents(_ database: DatabaseURL, count: Int, prefix: String) async throws {
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                """
                INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload")
                SELECT 'github', \(prefix) || n, 'issues.opened', '{"action":"opened"}'::jsonb FROM generate_series(1, \(count)) AS n
                """)
        }
    }

    /// (events with status `skipped`, events whose attempts are not exactly 1, all events)
    func tally(_ database: DatabaseURL) async throws -> (skipped: Int, notOnce: Int, total: Int) {
        try await TestDatabase.withClient(database) { sql in
            let rows = try await sql.query(
                #"SELECT count(*) FILTER (WHERE "status" = 'skipped')::int, count(*) FILTER (WHERE "attempts" <> 1)::int, count(*)::int FROM "webhookEvent""#
            )
            for try await row in rows.decode((Int, Int, Int).self) { return row }
            return (-1, -1, -1)
        }
    }

    /// The first column of the first row, as text ("" when there is none).
    func scalar(_ database: DatabaseURL, _ query: PostgresQuery) async throws -> String {
        try await TestDatabase.withClient(database) { sql in
            for try await value in try await sql.query(query).decode(String?.self) { return value ?? "" }
            return ""
        }
    }

    func start(_ database: DatabaseURL) async throws -> ChildProcess {
        let port = try FreePort.next()
        let process = try ServiceBinary("ConnectorsService").start(
            environment: TestConfig.variables(
                database: database, redis: try TestServers.redisURL(), overrides: ["CONNECTORS_PORT": String(port)]))
        try await ServiceBinary.waitForHealth(port: port, process: process)
        return process
    }

    @Test func twoProcessesDrainOneQueueProcessingEachEventOnce() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await insertEvents(database, count: 500, prefix: "delivery-")
        let first = try await start(database)
        let second = try await start(database)
        defer { first.stop(); second.stop() }
        // Roomy: two debug builds draining 500 events beside the parallel suites.
        try await eventually(timeout: .seconds(180), "500 events processed") {
            try await tally(database).skipped == 500
        }
        let result = try await tally(database)
        #expect(result.total == 500)
        #expect(result.notOnce == 0)
    }

    @Test func eventsLeftByAKilledProcessAreProcessedAfterARestart() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let process = try await start(database)
        try await insertEvents(database, count: 200, prefix: "k-")
        process.signal(SIGKILL)
        _ = try await process.waitForExit(timeout: .seconds(60))
        // Whatever it held stays leased until the lease runs out; shorten that for the test.
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                #"UPDATE "webhookEvent" SET "lockedUntil" = now() - interval '1 second' WHERE "status" = 'processing'"#)
        }
        let restarted = try await start(database)
        defer { restarted.stop() }
        try await eventually(timeout: .seconds(180), "200 events processed") {
            try await tally(database).skipped == 200
        }
        #expect(try await tally(database).total == 200)
    }

    /// SIGKILL while a handler is mid-effect: the test holds a lock on the connection row so the
    /// revoke handler's UPDATE is in flight when the process dies. After a restart the event is
    /// handled again (at least once) and the effect still happens exactly once: a trigger
    /// records every committed change to the row.
    @Test func aHandlerKilledMidEffectIsRetriedAndItsEffectHappensOnce() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                #"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES ('u1', 'Test', 'u1@example.com', true, now(), now())"#
            )
            try await sql.query(
                #"INSERT INTO "connection" ("id", "userId", "provider", "accountId") VALUES ('c1', 'u1', 'linear', 'org-4242')"#
            )
            try await sql.query(#"CREATE TABLE "effects" ("n" serial, "status" text)"#)
            try await sql.query(
                #"""
                CREATE FUNCTION "recordEffect"() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO "effects" ("status") VALUES (NEW."status"); RETURN NEW; END $$
                """#)
            try await sql.query(
                #"CREATE TRIGGER "recordEffect" AFTER UPDATE ON "connection" FOR EACH ROW EXECUTE FUNCTION "recordEffect"()"#
            )
        }
        let process = try await start(database)
        try await TestDatabase.withClient(database) { sql in
            try await sql.withConnection { blocker in
                // With a logger these are the async queries, awaited; without one they resolve
                // to the future-returning API and were only sent.
                let logger = Logger(label: "row-lock")
                try await blocker.query("BEGIN", logger: logger)
                try await blocker.query(#"SELECT 1 FROM "connection" WHERE "id" = 'c1' FOR UPDATE"#, logger: logger)
                // The event arrives (from another connection) while the row is locked.
                try await TestDatabase.withClient(database) { other in
                    try await other.query(
                        #"""
                        INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload")
                        VALUES ('linear', 'kill-1', 'OAuthApp.revoked', '{"action":"revoked","organizationId":"org-4242"}')
                        """#)
                }
                try await eventually("the handler waits on the row lock") {
                    try await scalar(
                        database,
                        #"SELECT count(*)::text FROM pg_stat_activity WHERE "wait_event_type" = 'Lock' AND "query" LIKE '%UPDATE "connection"%' AND "datname" = current_database()"#
                    ) == "1"
                }
                #expect(
                    try await scalar(database, #"SELECT "status" FROM "webhookEvent" WHERE "deliveryKey" = 'kill-1'"#)
                        == "processing")
                process.signal(SIGKILL)
                _ = try await process.waitForExit(timeout: .seconds(60))
                try await blocker.query("ROLLBACK", logger: logger)
            }
        }
        // The killed process's lease would run for a minute; end it for the test.
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                #"UPDATE "webhookEvent" SET "lockedUntil" = now() - interval '1 second' WHERE "status" = 'processing'"#)
        }
        let restarted = try await start(database)
        defer { restarted.stop() }
        try await eventually("the event is handled after the restart") {
            try await scalar(database, #"SELECT "status" FROM "webhookEvent" WHERE "deliveryKey" = 'kill-1'"#) == "done"
        }
        #expect(
            try await scalar(database, #"SELECT "attempts"::text FROM "webhookEvent" WHERE "deliveryKey" = 'kill-1'"#)
                == "2")
        #expect(try await scalar(database, #"SELECT "status" FROM "connection" WHERE "id" = 'c1'"#) == "revoked")
        #expect(try await scalar(database, #"SELECT string_agg("status", ',') FROM "effects""#) == "revoked")
    }
}
