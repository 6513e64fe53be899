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

    /// What `/ready` checks.
    public var readiness: [any ReadinessCheck] { [PostgresReadiness(postgres.client), RedisReadiness(redis)] }

    /// What runs in the service group, started in this order and stopped in reverse.
    public var services: [any Service] { [postgres.client, redis] }
}
