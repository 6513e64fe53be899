import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

extension HTTPCore {
    /// The Hummingbird application for a service: its router, bound to the configured host
    /// and port, with its long-lived dependencies as services. Hummingbird shuts the server
    /// down first (finishing in-flight requests), then these services in reverse order.
    /// `beforeServing` runs once the services are up and before the server accepts requests;
    /// once it accepts them, the pages only start-up used leave the resident set (`StartupPages`).
    ///
    /// `requestsOnEventLoops` handles each connection on its event loop (`EventLoopTaskExecutor`)
    /// instead of Swift's cooperative pool: it pays off where a request awaits I/O several times,
    /// and in the auth service with the loops under `SCHED_BATCH` (`ThreadScheduling`). The
    /// measurements are in docs/performance.md.
    public static func application<Context: ServiceRequestContext>(
        router: Router<Context>, config: CommonConfig, services: [any Service], logger: Logger,
        beforeServing: [@Sendable () async throws -> Void] = [], requestsOnEventLoops: Bool = false
    ) -> some ApplicationProtocol {
        // Idle keep-alive connections are closed after 2 minutes: longer than Traefik's
        // 90-second upstream idle timeout, so the proxy never reuses a connection we closed.
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(120))
        var application = Application(
            router: router,
            server: requestsOnEventLoops ? .eventLoopBoundHTTP1(configuration: http1) : .http1(configuration: http1),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
            services: services,
            onServerRunning: { _ in
                let released = StartupPages.releaseStartupPages()
                logger.debug("released start-up pages", metadata: ["bytes": "\(released)"])
            },
            logger: logger)
        // Work that needs the services running (e.g. loading keys from PostgreSQL) but must
        // finish before the first request is accepted.
        for step in beforeServing { application.beforeServerStarts(perform: step) }
        return application
    }
}
