import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle

/// An owned async-http-client for calls to providers, run as a service so it is shut down
/// cleanly after the server stops (`HTTPClient.shared` can never be shut down).
public struct HTTPClientService: Service {
    public let client: HTTPClient

    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(20))
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
