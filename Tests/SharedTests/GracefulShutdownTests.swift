import Foundation
import HTTPTypes
import Logging
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
import Shared
import Testing
import TestSupport

/// Graceful shutdown: a request in flight when shutdown starts is finished, not cut off.
@Suite struct GracefulShutdownTests {
    @Test func finishesInFlightRequestsBeforeStopping() async throws {
        let port = try FreePort.next()
        let started = SendableBox(false)
        let finished = SendableBox(false)
        let app = try TestApp.make(
            database: try await TestDatabase.create(migrated: false), redis: try TestServers.redisURL(),
            overrides: ["AUTH_PORT": String(port)]
        ) { router, _ in
            router.get("/slow") { _, _ -> String in
                started.set(true)
                try await Task.sleep(for: .milliseconds(700))
                finished.set(true)
                return "finished"
            }
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: .init(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // Whether the handler had finished when the service group returned.
            let handlerDoneAtExit = SendableBox<Bool?>(nil)
            tasks.addTask {
                try await group.run()
                handlerDoneAtExit.set(finished.get())
            }
            try await eventually("server up") {
                try await TestClient.withClient(host: "127.0.0.1", port: port) {
                    try await $0.get("/health").status == .ok
                }
            }
            let slow = Task {
                try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                    try await client.get("/slow")
                }
            }
            // Shut down only once the request is being handled.
            try await eventually("the slow request to start") { started.get() }
            await group.triggerGracefulShutdown()
            let response = try await slow.value
            #expect(response.status == .ok)
            #expect(String(buffer: response.body ?? ByteBuffer()) == "finished")
            // The server stopped by itself, and only after the in-flight handler had finished.
            try await tasks.next()
            #expect(handlerDoneAtExit.get() == true)
        }
        // Nothing listens any more.
        await #expect(throws: (any Error).self) {
            try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/health") }
        }
    }
}
