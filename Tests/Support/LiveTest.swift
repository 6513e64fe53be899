import HTTPTypes
import Hummingbird
import HummingbirdCore
// Testable for `TestResponse`'s memberwise initialiser, which the module keeps internal.
@testable import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

extension ApplicationProtocol {
    /// Runs the application on a free loopback port and `body` against it over real HTTP, as
    /// HummingbirdTesting's `.testLive()` does, but with a read timeout a loaded machine does
    /// not hit: `.live` fixes 20 s, and on two busy cores a suite's requests can queue behind
    /// every other suite's password hashes for longer than that.
    public func testLive<Value: Sendable>(
        timeout: Duration = .seconds(180), _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let app = PortReportingApplication(base: self)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let services = ServiceGroup(
                configuration: .init(services: [app], gracefulShutdownSignals: [], logger: app.logger))
            group.addTask { try await services.run() }
            let port = await app.port.value()
            let client = TestClient(host: "localhost", port: port, configuration: .init(timeout: timeout))
            client.connect()
            do {
                let value = try await body(LiveClient(client: client))
                try await client.shutdown()
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                try? await client.shutdown()
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

/// The application under test, on port 0, reporting the port it got.
private struct PortReportingApplication<Base: ApplicationProtocol>: ApplicationProtocol, Service {
    typealias Responder = Base.Responder
    let base: Base
    let port = ReportedPort()

    var responder: Responder { get async throws { try await base.responder } }
    var server: HTTPServerBuilder { base.server }
    var eventLoopGroup: any EventLoopGroup { base.eventLoopGroup }
    var configuration: ApplicationConfiguration { base.configuration.with(address: .hostname("localhost", port: 0)) }
    var logger: Logger { base.logger }
    var services: [any Service] { base.services }
    var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { base.processesRunBeforeServerStart }

    @Sendable func onServerRunning(_ channel: any Channel) async {
        await base.onServerRunning(channel)
        port.report(channel.localAddress?.port ?? 0)
    }
}

/// The bound port, for whoever waits for it.
private final class ReportedPort: Sendable {
    private let state = Mutex<(port: Int?, waiting: [CheckedContinuation<Int, Never>])>((nil, []))

    func report(_ port: Int) {
        let waiting = state.withLock { state in
            state.port = port
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume(returning: port) }
    }

    func value() async -> Int {
        await withCheckedContinuation { continuation in
            let known = state.withLock { state -> Int? in
                if let port = state.port { return port }
                state.waiting.append(continuation)
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}

/// `TestClientProtocol` over a `TestClient` with our timeout.
private struct LiveClient: TestClientProtocol {
    let client: TestClient

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws
        -> TestResponse
    {
        var headers = headers
        headers[.connection] = "keep-alive"
        let response = try await client.execute(
            TestClient.Request(uri, method: method, authority: "localhost", headers: headers, body: body))
        return TestResponse(
            head: response.head, body: response.body ?? ByteBuffer(), trailerHeaders: response.trailerHeaders)
    }

    var port: Int? { client.port }
}

/// Runs `body` with a client on a connection of its own to the same live server: requests on
/// one connection are answered in order, so a request that waits (a stream, a slow run) would
/// hold up every later one sent beside it.
public func withOwnConnection<Value: Sendable>(
    to client: any TestClientProtocol, _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    guard let port = client.port else { throw OwnConnectionUnavailable() }
    let own = TestClient(host: "localhost", port: port, configuration: .init(timeout: .seconds(180)))
    own.connect()
    do {
        let value = try await body(LiveClient(client: own))
        try await own.shutdown()
        return value
    } catch {
        try? await own.shutdown()
        throw error
    }
}

struct OwnConnectionUnavailable: Error {}
