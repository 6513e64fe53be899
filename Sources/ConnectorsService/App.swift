import ArgumentParser
import DB
import Hummingbird
import Logging
import Shared

/// `ConnectorsService`: provider connections, webhooks, the agent and MCP. `serve` (default) or `migrate`.
@main
struct ConnectorsServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ConnectorsService",
        abstract: "Provider connections (OAuth), webhooks, the agent and the MCP endpoint.",
        subcommands: [Serve.self, Migrate.self, Reencrypt.self],
        defaultSubcommand: Serve.self)

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve HTTP until SIGTERM or SIGINT (the default).")

        func run() async throws {
            try await StartupGuard.run("ConnectorsService") {
                let config = try ConnectorsConfig(await ConfigValues.load())
                Telemetry.bootstrap(logLevel: config.common.logLevel)
                let app = buildApplication(config, logger: Logger(label: "ConnectorsService"))
                try await app.runService()
            }
        }
    }

    struct Reencrypt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Re-seal every stored provider token under the current ENCRYPTION_KEY (then old keys can leave ENCRYPTION_KEY_PREVIOUS)."
        )

        func run() async throws {
            try await StartupGuard.run("ConnectorsService") {
                let config = try ConnectorsConfig(await ConfigValues.load())
                Telemetry.bootstrap(logLevel: config.common.logLevel)
                let logger = Logger(label: "ConnectorsService")
                let report = try await Database.withClient(config.common.database, logger: logger) { postgres in
                    try await Reencryptor(postgres: postgres, box: config.secretBox, logger: logger).run()
                }
                print(
                    "re-encrypted \(report.changed) values under key \(config.secretBox.current.id); \(report.current) were already under it"
                )
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

        func run() async throws {
            try await MigrateCommand.run(program: "ConnectorsService")
        }
    }
}
