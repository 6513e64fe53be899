import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus

/// A dependency `/ready` checks.
public protocol ReadinessCheck: Sendable {
    /// Human name for the message ("PostgreSQL", "Redis").
    var name: String { get }
    /// Error code when it is down (`POSTGRES_UNAVAILABLE`, `REDIS_UNAVAILABLE`).
    var code: String { get }
    /// Throws when the dependency cannot be reached.
    func check() async throws
}

/// Redis is ready when a `PING` is answered.
public struct RedisReadiness: ReadinessCheck {
    let client: RedisClient
    public init(_ client: RedisClient) { self.client = client }
    public var name: String { "Redis" }
    public var code: String { "REDIS_UNAVAILABLE" }
    public func check() async throws {
        guard try await client.send(["PING"]).string == "PONG" else {
            throw RedisError.protocolError("PING not answered with PONG")
        }
    }
}

/// `GET /health`, `GET /ready` and `GET /metrics`.
public struct HealthRoutes<Context: ServiceRequestContext>: Sendable {
    let checks: [any ReadinessCheck]
    let timeout: Duration

    public init(checks: [any ReadinessCheck], timeout: Duration = .seconds(2)) {
        self.checks = checks
        self.timeout = timeout
    }

    public func register(on router: some RouterMethods<Context>) {
        /// Liveness: the process is up and serving. No dependency is consulted.
        router.get("/health") { _, _ in
            Response.json(encoded: HealthBodies.healthy)
        }
        /// Readiness: PostgreSQL and Redis both answer; otherwise 503 naming what is down.
        router.get("/ready") { _, _ in
            let failed = await failingChecks()
            guard failed.isEmpty else {
                let names = failed.map(\.name).joined(separator: " and ")
                let code = failed.count == 1 ? failed[0].code : "DEPENDENCIES_UNAVAILABLE"
                throw AppError.serviceUnavailable(code, "\(names) \(failed.count == 1 ? "is" : "are") unreachable.")
            }
            return Response.json(encoded: ByteBuffer(string: #"{"status":"ready"}"#))
        }
        /// Prometheus text exposition of every metric in the process.
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: Telemetry.registry.emitToBuffer())))
        }
    }

    /// Runs every check concurrently, each bounded by the timeout; returns those that failed,
    /// in declaration order.
    func failingChecks() async -> [any ReadinessCheck] {
        let timeout = self.timeout
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask {
                    let passed = (try? await withTimeout(timeout) { try await check.check() }) != nil
                    return (index, passed)
                }
            }
            var passed = [Int: Bool]()
            for await (index, ok) in group { passed[index] = ok }
            return passed
        }
        return checks.enumerated().filter { results[$0.offset] != true }.map(\.element)
    }
}

/// Made once: `/health` is polled constantly.
enum HealthBodies {
    static let healthy = ByteBuffer(string: #"{"status":"ok"}"#)
}
