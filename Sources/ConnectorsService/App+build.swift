import DB
import Hummingbird
import Logging
import Shared

/// Wires the connectors service: PostgreSQL, Redis, the shared HTTP core and the feature routes.
func buildApplication(_ config: ConnectorsConfig, logger: Logger) -> some ApplicationProtocol {
    let infrastructure = Infrastructure(config.common, logger: logger)
    let router = HTTPCore.router(context: AppRequestContext.self, config: config.common, readiness: infrastructure.readiness)
    return HTTPCore.application(router: router, config: config.common, services: infrastructure.services, logger: logger)
}
