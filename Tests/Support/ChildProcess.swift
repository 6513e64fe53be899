import Foundation

/// A program run for a test (a service binary, a private redis-server), its output collected.
public final class ChildProcess: Sendable {
    private let process: Process
    private let output = SendableBox<[UInt8]>([])

    /// Starts `executable` with exactly `environment` (nothing inherited) in `directory`.
    public init(executable: URL, arguments: [String] = [], environment: [String: String], directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory ?? FileManager.default.temporaryDirectory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.update { $0.append(contentsOf: data) } }
        }
        try process.run()
    }

    public var processIdentifier: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Everything written to standard output and standard error so far.
    public var outputText: String { String(decoding: output.get(), as: UTF8.self) }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end (up to `timeout`) and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw TimeoutError(what: "process \(process.executableURL?.lastPathComponent ?? "?") to exit")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Let the pipe's last bytes arrive.
        try await Task.sleep(for: .milliseconds(50))
        return process.terminationStatus
    }

    /// Kills the process if it is still running.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

public struct TimeoutError: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(10), _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimeoutError(what: what)
}
