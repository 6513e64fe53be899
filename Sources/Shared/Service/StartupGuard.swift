import Foundation

/// Runs a subcommand body so that bad configuration ends the process the way operators
/// expect: one line on standard error naming the variable, exit status 78, no stack trace.
public enum StartupGuard {
    public static func run(_ program: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(program): \(error.description)\n".utf8))
            exit(ConfigurationError.exitCode)
        }
    }
}
