import Logging
import NIOSSL
import PostgresNIO
import Shared

/// PostgreSQL access both services share.
public enum Database {
    /// A connection pool for `DATABASE_URL`. Run it as a service in the service group.
    ///
    /// A service's pool is `fixed`: every connection is opened at start and kept (reopened if it
    /// drops). postgres-nio arms timers each time a connection goes idle — a keep-alive timer,
    /// and an idle-timeout timer for connections above the minimum — and cancels them at the
    /// next lease; each is a task, a child task and a Dispatch timer — measurable per query at
    /// thousands of queries a second (docs/performance.md). A fixed
    /// pool needs no idle timeout, and the keep-alive query is not needed either: a connection
    /// the server or a proxy closes is seen closed and replaced, and PostgreSQL's own
    /// `tcp_keepalives_*` settings cover silent network drops. Short-lived tools open
    /// connections as they need them instead.
    ///
    /// `statementTimeout` sets PostgreSQL's `statement_timeout` for every connection of the pool
    /// (as a startup parameter, so no statement runs before it applies): a statement that runs
    /// longer, or waits longer for a lock, is cancelled by the server and its request answers 503
    /// `DATABASE_TIMEOUT` instead of holding a connection and its caller. Migrations and other
    /// tools run without it.
    public static func client(
        _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 20, fixed: Bool = false,
        statementTimeout: Duration? = nil
    ) -> PostgresClient {
        PostgresClient(
            configuration: configuration(
                url, maximumConnections: maximumConnections, fixed: fixed, statementTimeout: statementTimeout),
            backgroundLogger: logger)
    }

    public static func configuration(
        _ url: DatabaseURL, maximumConnections: Int = 20, fixed: Bool = false, statementTimeout: Duration? = nil
    ) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch url.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
            tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = fixed ? maximumConnections : 0
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectTimeout = .seconds(5)
        if let statementTimeout {
            configuration.options.additionalStartupParameters = [
                ("statement_timeout", String(statementTimeout.wholeMilliseconds))
            ]
        }
        return configuration
    }
}

/// A statement PostgreSQL cancelled at `statement_timeout` (SQLSTATE 57014) is the client's
/// 503, not a server fault: the database is slow or a lock is held, and trying again later can
/// succeed.
extension PSQLError: ClientFacingError {
    public var clientError: AppError? {
        guard code == .server, serverInfo?[.sqlState] == "57014" else { return nil }
        return .databaseTimeout
    }
}

/// PostgreSQL is ready when `SELECT 1` is answered.
public struct PostgresReadiness: ReadinessCheck {
    let client: PostgresClient
    public init(_ client: PostgresClient) { self.client = client }
    public var name: String { "PostgreSQL" }
    public var code: String { "POSTGRES_UNAVAILABLE" }
    public func check() async throws {
        for try await _ in try await client.query("SELECT 1") {}
    }
}

extension Database {
    /// Runs `body` with a small pool that lives only as long as it does (maintenance commands).
    public static func withClient<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 2, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = Self.client(url, logger: logger, maximumConnections: maximumConnections)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
