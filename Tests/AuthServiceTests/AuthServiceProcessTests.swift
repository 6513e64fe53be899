import Foundation
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The `AuthService` executable as operators run it.
@Suite struct AuthServiceProcessTests {
    let binary = ServiceBinary("AuthService")

    @Test func servesHealthAndExitsZeroOnSIGTERM() async throws {
        try await ServiceProcessChecks.servesAndStopsOnSIGTERM(binary, portVariable: "AUTH_PORT")
    }

    /// As deployed, the event loops run under `SCHED_BATCH` (so their wake-ups do not preempt
    /// RSA signing) and the blocking pool that signs keeps the default policy.
    @Test func eventLoopsRunUnderBatchSchedulingAndSignersDoNot() async throws {
        #if os(Linux)
            let database = try await TestDatabase.create(migrated: true)
            let port = try FreePort.next()
            let process = try binary.start(
                environment: TestConfig.variables(
                    database: database, redis: try TestServers.redisURL(), overrides: ["AUTH_PORT": String(port)]))
            defer { process.stop() }
            try await ServiceBinary.waitForHealth(port: port, process: process)
            // The first start on an empty database made its signing key on the blocking pool.
            let keys = try await TestClient.withClient(host: "127.0.0.1", port: port) {
                try await $0.get("/.well-known/jwks.json")
            }
            #expect(String(buffer: keys.body ?? .init()).contains(#""kid""#))

            let threads = try Self.threadPolicies(of: process.processIdentifier)
            let loops = threads.filter { $0.name.hasPrefix("NIO-SGLTN-") }
            let blockingPool = threads.filter { $0.name.hasPrefix("SGLTN-TP-") }
            #expect(!loops.isEmpty, "\(threads)")
            #expect(loops.allSatisfy { $0.policy == 3 }, "\(threads)")
            #expect(!blockingPool.isEmpty, "\(threads)")
            #expect(blockingPool.allSatisfy { $0.policy == 0 }, "\(threads)")
        #endif
    }

    /// A database that refuses connections at first (still starting, a failover under way) is
    /// waited for: start-up outlasts the pool's request bound (5 s) and the service serves once
    /// the database accepts connections, instead of exiting with "no connection came free".
    @Test func startUpWaitsForADatabaseThatIsNotYetAcceptingConnections() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await Self.allowConnections(to: database.database, false)
        let port = try FreePort.next()
        let process = try binary.start(
            environment: TestConfig.variables(
                database: database, redis: try TestServers.redisURL(), overrides: ["AUTH_PORT": String(port)]))
        defer { process.stop() }
        let started = ContinuousClock.now
        // Past the request bound, measured from the process's start: it is still waiting.
        try await Task.sleep(until: started + .seconds(7))
        #expect(process.isRunning, "\(process.outputText)")
        #expect(
            (try? await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/health") }) == nil,
            "nothing is served before the signing keys are loaded")
        try await Self.allowConnections(to: database.database, true)
        try await ServiceBinary.waitForHealth(port: port, process: process)
        let keys = try await TestClient.withClient(host: "127.0.0.1", port: port) {
            try await $0.get("/.well-known/jwks.json")
        }
        #expect(String(buffer: keys.body ?? .init()).contains(#""kid""#))
    }

    static func allowConnections(to name: String, _ allowed: Bool) async throws {
        try await TestDatabase.withClient(try TestServers.databaseURL()) { admin in
            // A database name cannot be a bind parameter; test databases are named [a-z0-9_].
            try await admin.query(
                PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS \(allowed)"),
                logger: Logger(label: "test"))
        }
    }

    /// Each thread's name and scheduling policy (field 41 of `/proc/PID/task/TID/stat`).
    static func threadPolicies(of pid: pid_t) throws -> [(name: String, policy: Int)] {
        let tasks = "/proc/\(pid)/task"
        return try FileManager.default.contentsOfDirectory(atPath: tasks).map { tid in
            let stat = try String(contentsOfFile: "\(tasks)/\(tid)/stat", encoding: .utf8)
            let name = String(stat[stat.index(after: stat.firstIndex(of: "(")!)..<stat.lastIndex(of: ")")!])
            // Fields after the name start at field 3 (state).
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            return (name, Int(fields[41 - 3]) ?? -1)
        }
    }

    @Test func migrateAppliesMigrations() async throws {
        try await ServiceProcessChecks.migrateSubcommand(binary)
    }

    @Test(arguments: [
        (["DATABASE_URL": ""], "DATABASE_URL"),
        (["DATABASE_URL": "postgresql://nobody@/nodb"], "DATABASE_URL"),
        (["REDIS_URL": "localhost:6379"], "REDIS_URL"),
        (["BETTER_AUTH_SECRET": ""], "BETTER_AUTH_SECRET"),
        (["BETTER_AUTH_SECRET": "too-short"], "BETTER_AUTH_SECRET"),
        (["PUBLIC_URL": "not a url"], "PUBLIC_URL"),
        (["AUTH_PORT": "http"], "AUTH_PORT"),
        (["TRUSTED_PROXIES": "10.0.0.0/99"], "TRUSTED_PROXIES"),
    ])
    func badConfigurationExits78WithOneLine(overrides: [String: String], variable: String) async throws {
        try await ServiceProcessChecks.rejectsBadConfiguration(binary, overrides: overrides, variable: variable)
    }
}
