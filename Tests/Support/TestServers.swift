import Foundation
import Shared
import Synchronization

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
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw Missing(variable: name)
        }
        return value
    }
}

/// Free loopback TCP ports for servers a test starts later (child processes, a private
/// redis-server).
///
/// Ports come from below the kernel's ephemeral range: a port the kernel hands out for bind(0)
/// could, between our check and the server's bind, become the local end of one of the many
/// outgoing connections parallel tests open. Successive calls walk the range from a random
/// start, so tests running at once do not pick the same port.
public enum FreePort {
    private static let lowest = 20_000
    private static let cursor = Atomic<Int>(Int.random(in: 0..<5_000))

    public static func next() throws -> Int {
        // (An unusual ephemeral range starting this low leaves 20000–32767 as the best guess.)
        let start = ephemeralStart()
        let ceiling = start > lowest + 1_000 ? min(start, 32_768) : 32_768
        for _ in 0..<500 {
            let port = lowest + cursor.add(1, ordering: .relaxed).newValue % (ceiling - lowest)
            if isFree(port) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// The first port of Linux's ephemeral range (`ip_local_port_range`), 32768 if unknown.
    static func ephemeralStart() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
            let first = text.split(whereSeparator: \.isWhitespace).first.flatMap({ Int($0) })
        else { return 32_768 }
        return first
    }

    /// True when nothing is bound to the port on 127.0.0.1 (nor lingering in TIME_WAIT).
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
