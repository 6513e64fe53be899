import ArgumentParser
import DB
import Foundation
import Hummingbird
import Logging
import Shared

/// `ConnectorsService`: provider connections, webhooks, the agent and MCP. `serve` (default) or `migrate`.
@main
struct ConnectorsServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ConnectorsService",
        abstract: "Provider connections (OAuth), webhooks, the agent and the MCP endpoint.",
        subcommands: [Serve.self, Migrate.self, Reencrypt.self, ExportAudit.self],
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
                    try await Reencryptor(postgres: Postgres(postgres), box: config.secretBox, logger: logger).run()
                }
                print(
                    "re-encrypted \(report.changed) values under key \(config.secretBox.current.id); \(report.current) were already under it"
                )
            }
        }
    }

    struct ExportAudit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-audit",
            abstract: "Print the audit trail since a date as JSON lines (one event per line, oldest first).")

        @Option(help: "The first day (2026-01-31) or moment (2026-01-31T12:00:00Z) to include, in UTC.")
        var since: String

        func validate() throws {
            guard Self.date(since) != nil else {
                throw ValidationError(
                    "--since must be a date (2026-01-31) or an ISO 8601 moment (2026-01-31T12:00:00Z)")
            }
        }

        static func date(_ text: String) -> Date? {
            if let moment = try? Date(text, strategy: .iso8601) { return moment }
            return try? Date(text + "T00:00:00Z", strategy: .iso8601)
        }

        func run() async throws {
            try await StartupGuard.run("ConnectorsService") {
                let config = try ConnectorsConfig(await ConfigValues.load())
                Telemetry.bootstrap(logLevel: .warning)
                let logger = Logger(label: "ConnectorsService")
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                try await Database.withClient(config.common.database, logger: logger) { postgres in
                    try await AuditTrail(postgres: Postgres(postgres), logger: logger).export(since: Self.date(since)!)
                    { event in
                        print(String(decoding: try encoder.encode(AuditEventView(event)), as: UTF8.self))
                    }
                }
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
