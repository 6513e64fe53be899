import Backends
import DB
import Hummingbird
import Logging
import PostgresNIO
import Shared

/// What a test app's extra routes may use.
public struct TestAppParts: Sendable {
    public let postgres: PostgresClient
    public let redis: RedisClient
    public let limiter: RateLimiter
    public let config: CommonConfig
}

/// An application built the way the services build theirs — the shared router, middleware,
/// health routes and services — plus whatever routes a test adds.
public enum TestApp {
    public static func make(
        database: DatabaseURL, redis: RedisURL, overrides: [String: String] = [:], requestsOnEventLoops: Bool = false,
        routes: (Router<AppRequestContext>, TestAppParts) -> Void = { _, _ in }
    ) throws -> some ApplicationProtocol {
        let env = TestConfig.environment(database: database, redis: redis, overrides: overrides)
        let config = try CommonConfig(env, portVariable: "AUTH_PORT", defaultPort: 0)
        Telemetry.bootstrap(logLevel: .warning)
        var logger = Logger(label: "test-app")
        logger.logLevel = .warning
        var options = RedisClient.Options()
        options.maximumBackoff = .milliseconds(200)
        options.commandTimeout = .seconds(10)
        let infrastructure = Infrastructure(
            config, redisOptions: options, rateLimitPrefix: "rl-test-" + RandomToken.string(length: 10), logger: logger)
        let router = HTTPCore.router(
            context: AppRequestContext.self, config: config, readiness: infrastructure.readiness)
        routes(
            router,
            TestAppParts(
                postgres: infrastructure.postgres.client, redis: infrastructure.redis,
                limiter: infrastructure.rateLimiter,
                config: config))
        return HTTPCore.application(
            router: router, config: config, services: infrastructure.services, logger: logger,
            requestsOnEventLoops: requestsOnEventLoops)
    }
}
