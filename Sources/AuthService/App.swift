import ArgumentParser
import DB
import Hummingbird
import Logging
import Shared

/// `AuthService`: users, sessions, sign-in and JWTs. `serve` (default) or `migrate`.
@main
struct AuthServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "AuthService",
        abstract: "Users, sessions, GitHub sign-in, RS256 JWTs and the JWKS.",
        subcommands: [Serve.self, Migrate.self, RotateKeys.self, SigningBenchmark.self],
        defaultSubcommand: Serve.self)

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve HTTP until SIGTERM or SIGINT (the default).")

        func run() async throws {
            try await StartupGuard.run("AuthService") {
                let config = try AuthConfig(await ConfigValues.load())
                Telemetry.bootstrap(logLevel: config.common.logLevel)
                let logger = Logger(label: "AuthService")
                let app = buildApplication(config, logger: logger)
                // A wake-up of an event loop must not interrupt a signature in progress.
                if try await ThreadScheduling.useBatchPolicyForSharedEventLoops() == 0 {
                    logger.notice("event loops keep the default scheduling policy (SCHED_BATCH unavailable)")
                }
                try await app.runService()
            }
        }
    }

    struct RotateKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-keys",
            abstract:
                "Add a JWT signing key: published at once, signing after one JWKS cache period; older keys retire once their tokens have expired."
        )

        func run() async throws {
            try await StartupGuard.run("AuthService") {
                let config = try AuthConfig(await ConfigValues.load())
                Telemetry.bootstrap(logLevel: config.common.logLevel)
                let kid = try await rotateSigningKeys(config, logger: Logger(label: "AuthService"))
                print(
                    "new signing key \(kid): published now, signing from \(Int(config.jwksCachePeriod)) seconds from now"
                )
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

        func run() async throws {
            try await MigrateCommand.run(program: "AuthService")
        }
    }
}
