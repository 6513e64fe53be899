import Logging
import Shared

@testable import ConnectorsService

extension ConnectionListCache {
    /// A cache for a repository built outside the application (its invalidations go to `redis`,
    /// which may not even be running: they are then only logged).
    static func unshared(_ redis: RedisClient) -> ConnectionListCache {
        ConnectionListCache(
            redis: redis, limiter: RateLimiter(redis: redis, logger: Logger(label: "test")),
            logger: Logger(label: "test"))
    }
}
