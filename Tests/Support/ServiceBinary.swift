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

    /// Starts it with exactly `environment`, in an empty folder (so no developer `.env` leaks in).
    public func start(_ arguments: [String] = [], environment: [String: String]) throws -> ChildProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svc-\(RandomToken.string(length: 8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try ChildProcess(executable: url, arguments: arguments, environment: environment, directory: directory)
    }

    /// Runs it to completion; returns its exit status and output.
    public func run(_ arguments: [String] = [], environment: [String: String]) async throws -> (status: Int32, output: String) {
        let process = try start(arguments, environment: environment)
        let status = try await process.waitForExit()
        return (status, process.outputText)
    }

    /// Waits until `GET /health` on `port` answers 200.
    public static func waitForHealth(port: Int, process: ChildProcess) async throws {
        try await eventually(timeout: .seconds(20), "/health on port \(port)") {
            guard process.isRunning else { throw TimeoutError(what: "a process that exited early: \(process.outputText)") }
            return try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/health").status == .ok }
        }
    }
}
