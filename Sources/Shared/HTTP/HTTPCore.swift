import HTTPTypes
import Hummingbird

/// Builds the router every service starts from: the shared middleware in its order, and the
/// health, readiness and metrics routes. Services add their feature routes to the result.
public enum HTTPCore {
    /// Every request passes one middleware (`RequestPipelineMiddleware`): client IP, request
    /// id, errors rendered as JSON, CORS, metrics and the log line.
    public static func router<Context: ServiceRequestContext>(
        context: Context.Type, config: CommonConfig, readiness: [any ReadinessCheck]
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(
            middleware: RequestPipelineMiddleware(
                trustedProxies: config.trustedProxies, trustedOrigins: config.trustedOrigins))
        HealthRoutes<Context>(checks: readiness).register(on: router)
        return router
    }
}
