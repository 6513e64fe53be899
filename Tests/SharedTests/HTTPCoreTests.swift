import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
@testable import Shared
import Testing
import TestSupport

struct Greeting: Decodable {
    let name: String
    let count: Int
    let tags: [String]?
}

/// The shared HTTP core over real HTTP: error shape, body handling, request ids, CORS,
/// health, readiness and metrics.
@Suite struct HTTPCoreTests {
    func app(overrides: [String: String] = [:]) async throws -> some ApplicationProtocol {
        try TestApp.make(
            database: try await TestDatabase.create(migrated: false), redis: try TestServers.redisURL(),
            overrides: overrides
        ) { router, _ in
            router.post("/echo") { request, context -> Response in
                let greeting = try await JSONBody.decode(Greeting.self, from: request, context: context)
                return Response(
                    status: .ok, body: .init(byteBuffer: ByteBuffer(string: "\(greeting.name):\(greeting.count)")))
            }
            router.group("/big").add(middleware: BodyLimitMiddleware(BodyLimit.webhook)).post {
                request, context -> Response in
                let body = try await RawBody.collect(request, context: context)
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "\(body.readableBytes)")))
            }
            router.get("/whoami") { _, context in context.clientIP }
            router.get("/boom") { _, _ -> String in throw CancellationError() }
        }
    }

    let json: HTTPFields = [.contentType: "application/json"]

    /// With `requestsOnEventLoops`, a handler runs on an event loop and comes back to the same
    /// loop after awaiting work that finishes on another thread and a timer; without it, on
    /// Swift's cooperative pool.
    @Test func requestsCanBeHandledOnTheirEventLoop() async throws {
        for onLoops in [false, true] {
            let app = try TestApp.make(
                database: try await TestDatabase.create(migrated: false), redis: try TestServers.redisURL(),
                requestsOnEventLoops: onLoops
            ) { router, _ in
                router.get("/where") { _, _ -> String in
                    let loop = {
                        MultiThreadedEventLoopGroup.currentEventLoop.map { "\(ObjectIdentifier($0).hashValue)" }
                            ?? "pool"
                    }
                    let start = loop()
                    try await NIOThreadPool.singleton.runIfActive { usleep(1000) }
                    let afterPool = loop()
                    try await Task.sleep(for: .milliseconds(1))
                    return [start, afterPool, loop()].joined(separator: " ")
                }
            }
            try await app.testLive() { client in
                for _ in 0..<5 {
                    let response = try await client.execute(uri: "/where", method: .get)
                    let places = String(buffer: response.body).split(separator: " ")
                    #expect(response.status == .ok && places.count == 3, "\(String(buffer: response.body))")
                    if onLoops {
                        #expect(places[0] != "pool" && Set(places).count == 1, "\(places)")
                    } else {
                        #expect(places.allSatisfy { $0 == "pool" }, "\(places)")
                    }
                }
            }
        }
    }

    @Test func unknownRoutesAre404InTheErrorShape() async throws {
        try await app().testLive() { client in
            let response = try await client.execute(uri: "/no/such/route", method: .get)
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            #expect(response.json.keys.sorted() == ["code", "message"])
            #expect(response.errorCode == "NOT_FOUND")
        }
    }

    @Test func decodesValidJSON() async throws {
        try await app().testLive() { client in
            let response = try await client.execute(
                uri: "/echo", method: .post, headers: json, body: .json(#"{"name":"ada","count":3}"#))
            #expect(response.status == .ok)
            #expect(response.text == "ada:3")
        }
    }

    @Test func badBodiesAreClear4xx() async throws {
        try await app().testLive() { client in
            let malformed = try await client.execute(
                uri: "/echo", method: .post, headers: json, body: .json(#"{"name":"ada","#))
            #expect(malformed.status == .badRequest)
            #expect(malformed.errorCode == "INVALID_JSON")

            let empty = try await client.execute(uri: "/echo", method: .post, headers: json, body: .json(""))
            #expect(empty.status == .badRequest)
            #expect(empty.errorCode == "INVALID_JSON")

            let missing = try await client.execute(
                uri: "/echo", method: .post, headers: json, body: .json(#"{"name":"ada"}"#))
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "VALIDATION_ERROR")
            #expect((missing.json["message"] as? String)?.contains("count") == true)

            let wrongType = try await client.execute(
                uri: "/echo", method: .post, headers: json, body: .json(#"{"name":"ada","count":"three"}"#))
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.errorCode == "VALIDATION_ERROR")
            #expect((wrongType.json["message"] as? String)?.contains("count must be an integer") == true)

            let nested = try await client.execute(
                uri: "/echo", method: .post, headers: json, body: .json(#"{"name":"ada","count":1,"tags":["a",2]}"#))
            #expect(nested.errorCode == "VALIDATION_ERROR")
            #expect((nested.json["message"] as? String)?.contains("tags.[1]") == true)

            let form = try await client.execute(
                uri: "/echo", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .json("name=ada"))
            #expect(form.status == .unsupportedMediaType)
            #expect(form.errorCode == "UNSUPPORTED_MEDIA_TYPE")

            let none = try await client.execute(uri: "/echo", method: .post, body: .json(#"{"name":"ada","count":3}"#))
            #expect(none.status == .unsupportedMediaType)
        }
    }

    @Test func oversizedBodiesAre413() async throws {
        try await app().testLive() { client in
            // Over the default 64 KiB JSON limit, declared up front.
            let big = #"{"name":""# + String(repeating: "a", count: 70 * 1024) + #"","count":1}"#
            let tooBig = try await client.execute(uri: "/echo", method: .post, headers: json, body: .json(big))
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.errorCode == "PAYLOAD_TOO_LARGE")

            // A route group with the 1 MiB webhook limit takes what JSON routes refuse …
            let ok = try await client.execute(
                uri: "/big", method: .post, body: ByteBuffer(repeating: 0x61, count: 900 * 1024))
            #expect(ok.status == .ok)
            #expect(ok.text == String(900 * 1024))
            // … and refuses past 1 MiB.
            let over = try await client.execute(
                uri: "/big", method: .post, body: ByteBuffer(repeating: 0x61, count: 1024 * 1024 + 1))
            #expect(over.status == .contentTooLarge)
        }
    }

    @Test func oversizedChunkedBodiesAre413() async throws {
        try await app().testLive() { client in
            // No Content-Length: the limit is enforced while collecting.
            let body = ByteBuffer(repeating: 0x61, count: 1024 * 1024 + 10)
            let response = try await client.execute(
                uri: "/big", method: .post, headers: [.transferEncoding: "chunked"], body: body)
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "PAYLOAD_TOO_LARGE")
        }
    }

    @Test func unexpectedErrorsAre500WithoutDetail() async throws {
        try await app().testLive() { client in
            let response = try await client.execute(uri: "/boom", method: .get)
            #expect(response.status == .internalServerError)
            #expect(response.errorCode == "INTERNAL_SERVER_ERROR")
            #expect(!response.text.contains("Cancellation"))
        }
    }

    @Test func requestIDsAreEchoedOrGenerated() async throws {
        try await app().testLive() { client in
            let echoed = try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: "req-42.a_b:c"])
            #expect(echoed.headers[.xRequestID] == "req-42.a_b:c")

            let generated = try await client.execute(uri: "/health", method: .get)
            let id = try #require(generated.headers[.xRequestID])
            #expect(id.count == 20)
            let next = try #require(try await client.execute(uri: "/health", method: .get).headers[.xRequestID])
            #expect(next.count == 20 && next != id)

            // A value that could inject into logs is replaced.
            let hostile = try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: "x y\"z"])
            #expect(hostile.headers[.xRequestID] != "x y\"z")
            #expect(hostile.headers[.xRequestID]?.count == 20)

            // Errors carry it too.
            let missing = try await client.execute(uri: "/nope", method: .get, headers: [.xRequestID: "trace-me"])
            #expect(missing.headers[.xRequestID] == "trace-me")
        }
    }

    @Test func metricNamesAreSanitisedOnlyWhenNeeded() {
        #expect(Telemetry.sanitize("http.server.active_requests") == "http_server_active_requests")
        #expect(Telemetry.sanitize("webhooks_received_total:x1") == "webhooks_received_total:x1")
        #expect(Telemetry.sanitize("naïve-name") == "na_ve_name")
    }

    @Test func generatedRequestIDsAreDistinctAndDurationsHaveTwoDecimals() {
        let ids = (0..<10_000).map { _ in RequestIDs.next() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 20 && RequestIDs.accepted($0) == $0 })
        #expect(RequestLog.milliseconds(micros: 0) == "0.00")
        #expect(RequestLog.milliseconds(micros: 1234) == "1.23")
        #expect(RequestLog.milliseconds(micros: 1235) == "1.24")
        #expect(RequestLog.milliseconds(micros: 60_050) == "60.05")
        #expect(RequestLog.milliseconds(micros: 999_999) == "1000.00")
    }

    @Test func corsOnlyForTrustedOriginsWithCredentials() async throws {
        try await app().testLive() { client in
            let trusted = try await client.execute(
                uri: "/health", method: .get, headers: [.origin: "https://app.connectors.test"])
            #expect(trusted.headers[.accessControlAllowOrigin] == "https://app.connectors.test")
            #expect(trusted.headers[.accessControlAllowCredentials] == "true")
            #expect(trusted.headers[.accessControlExposeHeaders]?.contains("set-auth-jwt") == true)
            #expect(trusted.headers[values: .vary].contains("Origin"))

            // PUBLIC_URL's origin is always trusted.
            let publicOrigin = try await client.execute(
                uri: "/health", method: .get, headers: [.origin: "https://connectors.test"])
            #expect(publicOrigin.headers[.accessControlAllowOrigin] == "https://connectors.test")

            let untrusted = try await client.execute(
                uri: "/health", method: .get, headers: [.origin: "https://evil.example"])
            #expect(untrusted.status == .ok)
            #expect(untrusted.headers[.accessControlAllowOrigin] == nil)
            #expect(untrusted.headers[.accessControlAllowCredentials] == nil)

            let preflight = try await client.execute(
                uri: "/echo", method: .options,
                headers: [
                    .origin: "https://app.connectors.test", .accessControlRequestMethod: "POST",
                    .accessControlRequestHeaders: "content-type",
                ])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.connectors.test")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Content-Type") == true)

            let hostilePreflight = try await client.execute(
                uri: "/echo", method: .options,
                headers: [
                    .origin: "https://evil.example", .accessControlRequestMethod: "POST",
                ])
            #expect(hostilePreflight.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func clientIPFromForwardedForOnlyBehindTrustedProxies() async throws {
        try await app().testLive() { client in
            // The test client connects over loopback, trusted by default.
            let proxied = try await client.execute(
                uri: "/whoami", method: .get, headers: [.xForwardedFor: "198.51.100.7"])
            #expect(proxied.text == "198.51.100.7")
        }
        try await app(overrides: ["TRUSTED_PROXIES": "10.0.0.0/8"]).testLive() { client in
            let spoofed = try await client.execute(
                uri: "/whoami", method: .get, headers: [.xForwardedFor: "198.51.100.7"])
            #expect(spoofed.text == "127.0.0.1")
        }
    }

    @Test func healthReadyAndMetrics() async throws {
        try await app().testLive() { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            #expect(health.text == #"{"status":"ok"}"#)

            try await eventually("ready") { try await client.execute(uri: "/ready", method: .get).status == .ok }

            _ = try await client.execute(uri: "/nope", method: .get)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(
                metrics.text.contains(
                    #"hb_requests{http_route="/health",http_request_method="GET",http_response_status_code="200"}"#))
            #expect(metrics.text.contains("# TYPE http_server_request_duration histogram"))
            #expect(
                metrics.text.contains(
                    #"http_server_request_duration_bucket{http_route="/ready",http_request_method="GET",http_response_status_code="200",le="0.005"}"#
                ))
            #expect(metrics.text.contains(#"http_route="NotFound""#))
        }
    }

    @Test func readyNamesPostgresWhenItIsDown() async throws {
        // A database URL on a port where nothing listens.
        var unreachable = try TestServers.databaseURL()
        unreachable.port = try FreePort.next()
        try await TestApp.make(database: unreachable, redis: try TestServers.redisURL()).testLive() { client in
            // Once Redis is connected (start-up), only PostgreSQL is reported.
            try await eventually("only PostgreSQL reported down") {
                try await client.execute(uri: "/ready", method: .get).errorCode == "POSTGRES_UNAVAILABLE"
            }
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.errorCode == "POSTGRES_UNAVAILABLE")
            #expect((ready.json["message"] as? String) == "PostgreSQL is unreachable.")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }
}
