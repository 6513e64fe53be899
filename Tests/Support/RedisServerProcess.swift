import Foundation
import Shared

/// A redis-server of a test's own, on a fixed port, that the test can stop and start again
/// (the shared test Redis must stay up for everyone else).
public final class RedisServerProcess: Sendable {
    public let port: Int
    public let password: String
    private let directory: URL
    private let current = SendableBox<ChildProcess?>(nil)

    public init() throws {
        self.port = try FreePort.next()
        self.password = RandomToken.string(length: 24)
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-\(RandomToken.string(length: 8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public var url: RedisURL { RedisURL(host: "127.0.0.1", port: port, password: password, database: 0) }

    public func start() async throws {
        let process = try ChildProcess(
            executable: URL(fileURLWithPath: try TestServers.redisServerBinary()),
            arguments: [
                "--port", String(port), "--bind", "127.0.0.1", "--requirepass", password, "--save", "", "--appendonly",
                "no", "--dir", directory.path,
            ],
            environment: [:])
        current.set(process)
        try await eventually("redis-server on port \(port)") {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }
    }

    public func stop() {
        current.get()?.stop()
        current.set(nil)
    }

    deinit {
        current.get()?.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
