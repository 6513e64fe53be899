import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle

/// An owned async-http-client for calls to providers, run as a service so it is shut down
/// cleanly after the server stops (`HTTPClient.shared` can never be shut down).
public struct HTTPClientService: Service {
    public let client: HTTPClient

    /// `readTimeout` is the longest silence between two reads of an answer. 20 s suits provider
    /// APIs; a model generating a long non-streamed answer sends nothing until it is done, so
    /// its client waits longer (each call still has its own deadline).
    public init(readTimeout: TimeAmount = .seconds(20)) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: readTimeout)
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
