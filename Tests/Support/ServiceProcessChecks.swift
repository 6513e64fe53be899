import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Shared
import Testing

/// Checks every service executable must pass, shared by the two services' test suites.
public enum ServiceProcessChecks {
    /// Bad configuration: one line on stderr naming the variable, exit 78, no secret in it.
    public static func rejectsBadConfiguration(_ binary: ServiceBinary, overrides: [String: String], variable: String)
        async throws
    {
        let variables = TestConfig.variables(
            database: try TestServers.databaseURL(), redis: try TestServers.redisURL(), overrides: overrides)
        let (status, output) = try await binary.run(environment: variables)
        #expect(status == 78, "\(output)")
        let lines = output.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "expected one line, got: \(output)")
        #expect(lines.first?.hasPrefix("\(binary.name): configuration error: \(variable) ") == true, "\(output)")
        for secret in [TestConfig.betterAuthSecret, TestConfig.jwtSecret, TestConfig.encryptionKey] {
            #expect(!output.contains(secret))
        }
    }

    /// `serve` answers /health and /ready, logs one line per request without secrets, and
    /// exits 0 on SIGTERM.
    public static func servesAndStopsOnSIGTERM(_ binary: ServiceBinary, portVariable: String) async throws {
        let database = try await TestDatabase.create(migrated: true)
        let redis = try TestServers.redisURL()
        let port = try FreePort.next()
        let variables = TestConfig.variables(
            database: database, redis: redis, overrides: [portVariable: String(port), "LOG_LEVEL": "info"])
        let process = try binary.start(environment: variables)
        defer { process.stop() }
        try await ServiceBinary.waitForHealth(port: port, process: process)
        // Run as production runs it (a non-root user), it still reaches Redis and PostgreSQL.
        if getuid() == 0 {
            let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
            let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(
                whereSeparator: \.isWhitespace
            ).dropFirst().first
            #expect(uid.map(String.init) == String(ServiceBinary.unprivilegedID), "\(status)")
        }
        try await eventually(timeout: .seconds(60), "/ready") {
            try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/ready").status == .ok }
        }
        #expect(!process.outputText.contains("cannot connect to Redis"), "\(process.outputText)")
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port) {
            try await $0.get("/health?token=should-not-be-logged")
        }
        #expect(response.status == .ok)
        #expect(String(buffer: response.body ?? ByteBuffer()) == #"{"status":"ok"}"#)

        process.signal(SIGTERM)
        // Generous: draining and closing the pools is slow on a loaded machine.
        let status = try await process.waitForExit(timeout: .seconds(60))
        let output = process.outputText
        #expect(status == 0, "\(output)")
        #expect(output.contains("path=/health"))
        #expect(!output.contains("should-not-be-logged"))
        for secret in [
            TestConfig.betterAuthSecret, TestConfig.jwtSecret, TestConfig.encryptionKey, redis.password ?? "-",
        ] {
            #expect(!output.contains(secret))
        }
    }

    /// `migrate` applies the migrations to an empty database and exits 0.
    public static func migrateSubcommand(_ binary: ServiceBinary) async throws {
        let database = try await TestDatabase.create(migrated: false)
        let variables = TestConfig.variables(database: database, redis: try TestServers.redisURL())
        let (status, output) = try await binary.run(["migrate"], environment: variables)
        #expect(status == 0, "\(output)")
        let again = try await binary.run(["migrate"], environment: variables)
        #expect(again.status == 0)
        #expect(again.output.contains("applied=0"))
    }
}
