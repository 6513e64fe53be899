import Logging
import DB
import PostgresNIO
import ServiceLifecycle
import Shared

/// The long-lived clients every service runs — the PostgreSQL pool and the Redis client — with
/// the readiness checks that watch them and the rate limiter that shares the Redis connection.
public struct Infrastructure: Sendable {
    public let postgres: Postgres
    public let redis: RedisClient
    public let rateLimiter: RateLimiter

    public init(
        _ config: CommonConfig, redisOptions: RedisClient.Options = .init(), rateLimitPrefix: String = "rl",
        logger: Logger
    ) {
        self.postgres = Postgres(
            Database.client(
                config.database, logger: logger, maximumConnections: config.databasePoolSize, fixed: true,
                statementTimeout: config.databaseStatementTimeout),
            leaseWait: config.databasePoolWait)
        self.redis = RedisClient(url: config.redis, options: redisOptions, logger: logger)
        self.rateLimiter = RateLimiter(redis: redis, keyPrefix: rateLimitPrefix, logger: logger)
    }

    /// Waits until PostgreSQL answers, for start-up work that needs it (the auth service's
    /// signing keys): a database still starting, or a fresh pool still opening connections on a
    /// busy host, is not a pool too busy to serve — the request bound (`DATABASE_POOL_WAIT_MS`)
    /// would end the process. Past `bound` start-up fails, naming what PostgreSQL last answered.
    public func waitForPostgres(within bound: Duration = .seconds(60), logger: Logger) async throws {
        let deadline = ContinuousClock.now + bound
        let backoff = Backoff(base: .milliseconds(250), cap: .seconds(2))
        var attempt = 0
        var waiting = false
        while true {
            attempt += 1
            do {
                for try await _ in try await postgres.query("SELECT 1", logger: logger) {}
                if waiting { logger.notice("PostgreSQL answers") }
                return
            } catch {
                guard ContinuousClock.now < deadline else { throw PostgresUnavailable(bound: bound, error: error) }
                if !waiting {
                    logger.notice("waiting for PostgreSQL", metadata: ["error": "\(String(reflecting: error))"])
                    waiting = true
                }
                try await Task.sleep(for: backoff.delay(attempt: attempt))
            }
        }
    }

    struct PostgresUnavailable: Error, CustomStringConvertible {
        let bound: Duration
        let error: any Error
        var description: String {
            "PostgreSQL did not answer within \(bound.components.seconds) s: \(String(reflecting: error))"
        }
    }

    /// What `/ready` checks.
    public var readiness: [any ReadinessCheck] { [PostgresReadiness(postgres.client), RedisReadiness(redis)] }

    /// What runs in the service group, started in this order and stopped in reverse.
    public var services: [any Service] { [postgres.client, redis] }
}
