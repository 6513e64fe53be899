import Foundation
import Shared

/// The throwaway servers `scripts/with-test-servers.sh` started for this run.
public enum TestServers {
    public struct Missing: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests with `make test` (it starts PostgreSQL and Redis)"
        }
    }

    /// A superuser URL of the test PostgreSQL cluster.
    public static func databaseURL() throws -> DatabaseURL {
        try DatabaseURL(parsing: value("TEST_DATABASE_URL"))
    }

    /// The shared test Redis (with a password, database 2).
    public static func redisURL() throws -> RedisURL {
        try RedisURL(parsing: value("TEST_REDIS_URL"))
    }

    /// `redis-server`, for tests that need a Redis of their own to stop and restart.
    public static func redisServerBinary() throws -> String {
        try value("REDIS_SERVER_BIN")
    }

    /// The folder holding the built `AuthService` and `ConnectorsService` executables.
    public static func binDirectory() -> URL {
        if let dir = ProcessInfo.processInfo.environment["SERVICE_BIN_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        // Tests/Support/TestServers.swift → package root → .build/debug
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug")
    }

    static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(variable: name) }
        return value
    }
}

/// Free loopback TCP ports.
public enum FreePort {
    public static func next() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
