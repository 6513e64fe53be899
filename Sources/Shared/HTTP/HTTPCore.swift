import HTTPTypes
import Hummingbird

/// Builds the router every service starts from: the shared middleware in its order, and the
/// health, readiness and metrics routes. Services add their feature routes to the result.
public enum HTTPCore {
    /// Middleware order, outermost first:
    /// client IP → request id → request log → metrics → CORS → errors rendered as JSON.
    /// The error middleware sits innermost of these so the log, metrics and CORS layers see
    /// every error as the response the client gets.
    public static func router<Context: ServiceRequestContext>(
        context: Context.Type, config: CommonConfig, readiness: [any ReadinessCheck]
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: ClientIPMiddleware(trustedProxies: config.trustedProxies))
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: TrustedOriginCORSMiddleware(trustedOrigins: config.trustedOrigins))
        router.add(middleware: ErrorMiddleware())
        HealthRoutes<Context>(checks: readiness).register(on: router)
        return router
    }
}
