import Logging
import PostgresNIO
import Shared

/// The body of both executables' `migrate` subcommand: apply pending migrations and exit.
public enum MigrateCommand {
    public static func run(program: String) async throws {
        try await StartupGuard.run(program) {
            let env = try await ConfigValues.load()
            let url = try DatabaseURL(
                parsing: env.required("DATABASE_URL", hint: "postgresql://user:pass@host:port/db", isSecret: true))
            Telemetry.bootstrap(logLevel: .info)
            let logger = Logger(label: program)
            let applied = try await migrate(url, logger: logger)
            logger.info("migrations done", metadata: ["applied": "\(applied.count)"])
        }
    }

    /// Runs a short-lived pool just for the migrations.
    public static func migrate(_ url: DatabaseURL, migrations: [Migration]? = nil, logger: Logger) async throws -> [Int]
    {
        try await Database.withClient(url, logger: logger) { client in
            try await Migrator(client: client, migrations: migrations ?? Migration.bundled(), logger: logger).migrate()
        }
    }
}
