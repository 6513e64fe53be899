import Foundation
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The webhook queue with real `ConnectorsService` processes: replicas share it, and a killed
/// process loses nothing.
@Suite struct WebhookWorkerProcessTests {
    func insertEvents(_ database: DatabaseURL, count: Int, prefix: String) async throws {
        try await TestDatabase.withClient(database) { sql in
            try await sql.query("""
                INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload")
                SELECT 'github', \(prefix) || n, 'issues.opened', '{"action":"opened"}'::jsonb FROM generate_series(1, \(count)) AS n
                """)
        }
    }

    /// (events with status `skipped`, events whose attempts are not exactly 1, all events)
    func tally(_ database: DatabaseURL) async throws -> (skipped: Int, notOnce: Int, total: Int) {
        try await TestDatabase.withClient(database) { sql in
            let rows = try await sql.query(#"SELECT count(*) FILTER (WHERE "status" = 'skipped')::int, count(*) FILTER (WHERE "attempts" <> 1)::int, count(*)::int FROM "webhookEvent""#)
            for try await row in rows.decode((Int, Int, Int).self) { return row }
            return (-1, -1, -1)
        }
    }

    func start(_ database: DatabaseURL) async throws -> ChildProcess {
        let port = try FreePort.next()
        let process = try ServiceBinary("ConnectorsService").start(environment: TestConfig.variables(
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
        try await eventually(timeout: .seconds(60), "500 events processed") { try await tally(database).skipped == 500 }
        let result = try await tally(database)
        #expect(result.total == 500)
        #expect(result.notOnce == 0)
    }

    @Test func eventsLeftByAKilledProcessAreProcessedAfterARestart() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let process = try await start(database)
        try await insertEvents(database, count: 200, prefix: "k-")
        process.signal(SIGKILL)
        _ = try await process.waitForExit(timeout: .seconds(10))
        // Whatever it held stays leased until the lease runs out; shorten that for the test.
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(#"UPDATE "webhookEvent" SET "lockedUntil" = now() - interval '1 second' WHERE "status" = 'processing'"#)
        }
        let restarted = try await start(database)
        defer { restarted.stop() }
        try await eventually(timeout: .seconds(60), "200 events processed") { try await tally(database).skipped == 200 }
        #expect(try await tally(database).total == 200)
    }
}
