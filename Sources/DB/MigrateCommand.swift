import Logging
import PostgresNIO
import Shared

/// The body of both executables' `migrate` subcommand: apply pending migrations and exit.
public enum MigrateCommand {
    public static func run(program: String) async throws {
        try await StartupGuard.run(program) {
            let env = try await Environment.load()
            let url = try DatabaseURL(parsing: env.required("DATABASE_URL", hint: "postgresql://user:pass@host:port/db"))
            Telemetry.bootstrap(logLevel: .info)
            let logger = Logger(label: program)
            let applied = try await migrate(url, logger: logger)
            logger.info("migrations done", metadata: ["applied": "\(applied.count)"])
        }
    }

    /// Runs a short-lived pool just for the migrations.
    public static func migrate(_ url: DatabaseURL, migrations: [Migration]? = nil, logger: Logger) async throws -> [Int] {
        let client = Database.client(url, logger: logger, maximumConnections: 2)
        return try await withThrowingTaskGroup(of: [Int]?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            let migrator = try Migrator(client: client, migrations: migrations ?? Migration.bundled(), logger: logger)
            return try await migrator.migrate()
        }
    }
}
