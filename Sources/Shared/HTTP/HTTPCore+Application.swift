import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

extension HTTPCore {
    /// The Hummingbird application for a service: its router, bound to the configured host
    /// and port, with its long-lived dependencies as services. Hummingbird shuts the server
    /// down first (finishing in-flight requests), then these services in reverse order.
    /// `beforeServing` runs once the services are up and before the server accepts requests.
    public static func application<Context: ServiceRequestContext>(
        router: Router<Context>, config: CommonConfig, services: [any Service], logger: Logger,
        beforeServing: [@Sendable () async throws -> Void] = []
    ) -> some ApplicationProtocol {
        var application = Application(
            router: router,
            // Idle keep-alive connections are closed after 2 minutes: longer than Traefik's
            // 90-second upstream idle timeout, so the proxy never reuses a connection we closed.
            server: .http1(configuration: .init(idleTimeout: .seconds(120))),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
            services: services,
            logger: logger)
        // Work that needs the services running (e.g. loading keys from PostgreSQL) but must
        // finish before the first request is accepted.
        for step in beforeServing { application.beforeServerStarts(perform: step) }
        return application
    }
}
