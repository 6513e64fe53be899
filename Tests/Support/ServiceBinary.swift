import Foundation
import HTTPTypes
import HummingbirdTesting
import Shared

/// Runs a built service executable as operators do: a process with environment variables.
public struct ServiceBinary: Sendable {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    public var url: URL { TestServers.binDirectory().appendingPathComponent(name) }

    /// The unprivileged user the binaries run as when the tests run as root: production runs
    /// them as a non-root user, and some faults (a socket option only root may set) show only there.
    public static let unprivilegedID = 65534

    /// Starts it with exactly `environment`, in an empty folder (so no developer `.env` leaks in),
    /// as `unprivilegedID` when the tests run as root.
    public func start(_ arguments: [String] = [], environment: [String: String]) throws -> ChildProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "svc-\(RandomToken.string(length: 8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard getuid() == 0 else {
            return try ChildProcess(
                executable: url, arguments: arguments, environment: environment, directory: directory)
        }
        // setpriv execs the binary in place, so the pid (and signals to it) are the service's.
        let id = String(Self.unprivilegedID)
        return try ChildProcess(
            executable: URL(fileURLWithPath: "/usr/bin/setpriv"),
            arguments: ["--reuid=\(id)", "--regid=\(id)", "--clear-groups", "--", url.path] + arguments,
            environment: environment, directory: directory)
    }

    /// Runs it to completion; returns its exit status and output.
    public func run(_ arguments: [String] = [], environment: [String: String]) async throws -> (
        status: Int32, output: String
    ) {
        let process = try start(arguments, environment: environment)
        let status = try await process.waitForExit()
        return (status, process.outputText)
    }

    /// Waits until `GET /health` on `port` answers 200.
    public static func waitForHealth(port: Int, process: ChildProcess) async throws {
        // A debug build starting beside the parallel suites can take a while to listen.
        try await eventually(timeout: .seconds(60), "/health on port \(port)") {
            guard process.isRunning else {
                throw TimeoutError(what: "a process that exited early: \(process.outputText)")
            }
            return try await TestClient.withClient(host: "127.0.0.1", port: port) {
                try await $0.get("/health").status == .ok
            }
        }
    }
}
