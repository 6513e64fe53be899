import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle

/// Runs a router on a free loopback port for the duration of `body` — how tests stand up fake
/// providers beside the service under test.
public func withFakeServer<T: Sendable>(
    _ router: Router<BasicRequestContext>, _ body: @Sendable (_ baseURL: String) async throws -> T
) async throws -> T {
    let port = try FreePort.next()
    var logger = Logger(label: "fake-server")
    logger.logLevel = .warning
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return nil
        }
        defer { tasks.cancelAll() }
        try await eventually("fake server on port \(port)") {
            try await TestClient.withClient(host: "127.0.0.1", port: port) { _ = try await $0.get("/"); return true }
        }
        let value = try await body("http://127.0.0.1:\(port)")
        await group.triggerGracefulShutdown()
        return value
    }
}
