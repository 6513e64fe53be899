import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle

/// Runs a router on a free loopback port for the duration of `body` — how tests stand up fake
/// providers beside the service under test.
///
/// The server binds port 0 and reports the port the kernel gave it: a port picked beforehand
/// and bound later could meanwhile become the local end of one of the many outgoing
/// connections the parallel tests open, and the bind would fail.
public func withFakeServer<T: Sendable>(
    _ router: Router<BasicRequestContext>, _ body: @Sendable (_ baseURL: String) async throws -> T
) async throws -> T {
    var logger = Logger(label: "fake-server")
    logger.logLevel = .warning
    let (ports, reportPort) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            if let port = channel.localAddress?.port { reportPort.yield(port) }
            reportPort.finish()
        },
        logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            defer { reportPort.finish() }  // a server that fails to start ends the wait below
            try await group.run()
            return nil
        }
        defer { tasks.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The server task ended without reporting a port: surface its error.
            _ = try await tasks.next()
            throw FakeServerError.didNotStart
        }
        let value = try await body("http://127.0.0.1:\(port)")
        await group.triggerGracefulShutdown()
        return value
    }
}

public enum FakeServerError: Error { case didNotStart }
