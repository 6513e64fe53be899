import DB
import Hummingbird
import Logging
import Shared

/// Wires the connectors service: PostgreSQL, Redis, the shared HTTP core and the feature routes.
func buildApplication(_ config: ConnectorsConfig, logger: Logger) -> some ApplicationProtocol {
    let postgres = Database.client(config.common.database, logger: logger)
    let redis = RedisClient(url: config.common.redis, logger: logger)
    let router = HTTPCore.router(
        context: AppRequestContext.self, config: config.common,
        readiness: [PostgresReadiness(postgres), RedisReadiness(redis)])
    return HTTPCore.application(router: router, config: config.common, services: [postgres, redis], logger: logger)
}
