import Foundation
import Shared

/// A program run for a test (a service binary, a private redis-server), its output captured
/// in a file.
///
/// Spawned with `posix_spawn` and an empty signal mask with default SIGTERM/SIGINT handling:
/// a child started from a test thread would otherwise inherit that thread's blocked signals
/// (dispatch worker threads block them), and SIGTERM would never reach it.
public final class ChildProcess: Sendable {
    public let processIdentifier: pid_t
    private let outputPath: String
    private let exitStatus = SendableBox<Int32?>(nil)

    /// Starts `executable` with exactly `environment` (nothing inherited) in `directory`.
    public init(executable: URL, arguments: [String] = [], environment: [String: String], directory: URL? = nil) throws
    {
        let directory = directory ?? FileManager.default.temporaryDirectory
        self.outputPath =
            FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // `sh` changes directory and then execs the program, keeping this pid.
        let argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory.path, executable.path] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid = pid_t()
        let status = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgv, cEnvp)
            }
        }
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EINVAL) }
        self.processIdentifier = pid
    }

    /// Everything written to standard output and standard error so far.
    public var outputText: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    public var isRunning: Bool { reap() == nil }

    public func signal(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// Waits for the process to end (up to `timeout`) and returns its exit status; a process
    /// killed by a signal reports 128 + the signal number, as shells do. The default is
    /// generous: on a loaded machine starting a process (a Python interpreter, a service) and
    /// letting it finish can take tens of seconds; a process that is quick returns at once.
    public func waitForExit(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reap() { return status }
            guard ContinuousClock.now < deadline else {
                stop()
                throw TimeoutError(what: "process \(processIdentifier) to exit")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Kills the process (SIGKILL: an abrupt stop, like a crash) if it is still running.
    public func stop() {
        guard isRunning else { return }
        kill(processIdentifier, SIGKILL)
        while reap() == nil { usleep(2000) }
    }

    private func reap() -> Int32? {
        exitStatus.update { known in
            if let known { return known }
            var status: Int32 = 0
            guard waitpid(processIdentifier, &status, WNOHANG) == processIdentifier else { return nil }
            let signal = status & 0x7F
            known = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
            return known
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: outputPath)
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

public struct TimeoutError: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` until it holds or `timeout` passes. The default is generous (start-up and
/// first requests can take tens of seconds on a loaded machine); a condition that holds early
/// returns at once.
public func eventually(timeout: Duration = .seconds(60), _ what: String, _ condition: @Sendable () async throws -> Bool)
    async throws
{
    let deadline = ContinuousClock.now + timeout
    while true {
        if (try? await condition()) == true { return }
        // Decided after a check, so a check that was itself slow still gets its answer heard.
        guard ContinuousClock.now < deadline else { throw TimeoutError(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}
