import DB
import Hummingbird
import Logging
import Shared

/// Wires the auth service: PostgreSQL, Redis, the shared HTTP core and the feature routes.
func buildApplication(_ config: AuthConfig, logger: Logger) -> some ApplicationProtocol {
    let infrastructure = Infrastructure(config.common, logger: logger)
    let router = HTTPCore.router(context: AppRequestContext.self, config: config.common, readiness: infrastructure.readiness)
    return HTTPCore.application(router: router, config: config.common, services: infrastructure.services, logger: logger)
}
