import DB
import Logging
import PostgresNIO
import Shared

/// A fresh database in the test cluster for each test that needs one, so tests run in
/// parallel without seeing each other's rows.
public enum TestDatabase {
    /// Creates an empty database; with `migrated`, applies the bundled migrations to it.
    public static func create(migrated: Bool = true) async throws -> DatabaseURL {
        do {
            return try await createDatabase(migrated: migrated)
        } catch {
            // PSQLError's description hides the server's message; a test failure needs it.
            throw Failure(description: "could not create a test database: \(String(reflecting: error))")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private static func createDatabase(migrated: Bool) async throws -> DatabaseURL {
        let admin = try TestServers.databaseURL()
        let name = "t_" + RandomToken.string(length: 16, alphabet: "abcdefghijklmnopqrstuvwxyz0123456789")
        let logger = Logger(label: "test-database")
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: admin.host, port: admin.port, username: admin.username, password: admin.password,
                database: admin.database, tls: .disable),
            id: 1, logger: logger)
        do {
            // A database name cannot be a bind parameter; it is generated above from [a-z0-9].
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        var url = admin
        url.database = name
        if migrated {
            _ = try await MigrateCommand.migrate(url, logger: logger)
        }
        return url
    }

    /// Runs `body` with a running client for `url`.
    public static func withClient<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (PostgresClient) async throws -> T)
        async throws -> T
    {
        try await Database.withClient(url, logger: Logger(label: "test-client"), maximumConnections: 4, body)
    }
}
