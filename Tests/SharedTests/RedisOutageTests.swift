import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Shared
import Testing
import TestSupport

/// Redis stopped and restarted under a running app: limits fall back to memory, `/ready` says
/// so, `/health` does not care, and everything recovers without restarting the app.
@Suite struct RedisOutageTests {
    @Test func fallsBackWhileRedisIsDownAndRecoversAfterARestart() async throws {
        let server = try RedisServerProcess()
        try await server.start()
        defer { server.stop() }
        // An hour's window: the in-memory one must not end between the requests below, however
        // slowly a loaded machine makes them.
        let rule = RateLimitRule(name: "outage", limit: 3, window: .seconds(3600))
        let app = try TestApp.make(database: try await TestDatabase.create(migrated: false), redis: server.url) {
            router, parts in
            router.group("/limited").add(middleware: RateLimitMiddleware(parts.limiter, rule: rule)).get { _, _ in "ok"
            }
        }
        try await app.testLive() { client in
            try await eventually("ready with Redis up") {
                try await client.execute(uri: "/ready", method: .get).status == .ok
            }
            let first = try await client.execute(uri: "/limited", method: .get)
            #expect(first.status == .ok)
            #expect(first.headers[.rateLimitRemaining] == "2")

            server.stop()
            try await eventually("ready reports Redis down") {
                let ready = try await client.execute(uri: "/ready", method: .get)
                return ready.status == .serviceUnavailable && ready.errorCode == "REDIS_UNAVAILABLE"
            }
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect((ready.json["message"] as? String) == "Redis is unreachable.")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)

            // Requests are not refused because Redis is down; the in-memory window still limits.
            for expected in ["2", "1", "0"] {
                let response = try await client.execute(uri: "/limited", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitRemaining] == expected)
            }
            #expect(try await client.execute(uri: "/limited", method: .get).status == .tooManyRequests)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            let fallbackLine = metrics.split(separator: "\n").first { $0.hasPrefix("rate_limit_redis_fallback_total") }
            #expect(Int(fallbackLine?.split(separator: " ").last ?? "") ?? 0 >= 4)

            try await server.start()
            try await eventually("ready again after Redis restarts") {
                try await client.execute(uri: "/ready", method: .get).status == .ok
            }
            // Back on Redis: the restarted (empty) Redis holds a fresh window.
            let recovered = try await client.execute(uri: "/limited", method: .get)
            #expect(recovered.status == .ok)
            #expect(recovered.headers[.rateLimitRemaining] == "2")
        }
    }
}
