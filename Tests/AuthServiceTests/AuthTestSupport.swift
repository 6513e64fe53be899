import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import TestSupport

@testable import AuthService

/// An auth service on a fresh database, over real HTTP.
struct AuthTestApp {
    let database: DatabaseURL
    let config: AuthConfig

    /// `redis` defaults to the test Redis; pass an address nothing listens on to run without it.
    static func make(
        overrides: [String: String] = [:], redis: RedisURL? = nil, configure: (inout AuthConfig) -> Void = { _ in }
    ) async throws -> AuthTestApp {
        let database = try await TestDatabase.create(migrated: true)
        var config = try AuthConfig(
            TestConfig.environment(database: database, redis: try redis ?? TestServers.redisURL(), overrides: overrides)
        )
        // Each app gets its own rate-limit and lockout keys' worth of room: tests share Redis.
        config.signInLimit.name += "-" + RandomToken.string(length: 8)
        config.apiLimit.name += "-" + RandomToken.string(length: 8)
        config.changePasswordLimit.name += "-" + RandomToken.string(length: 8)
        config.oauth.registrationLimit.name += "-" + RandomToken.string(length: 8)
        // The hashing threads are the test process's, shared by every suite running at once: a
        // queue bound meant for one service would refuse tests that merely ran together.
        config.hashing = HashingPool.Limits(maxWaiting: 100_000, maxWait: .seconds(3600))
        configure(&config)
        Telemetry.bootstrap(logLevel: .warning)
        return AuthTestApp(database: database, config: config)
    }

    func test<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "auth-test")
        logger.logLevel = .warning
        return try await buildApplication(config, logger: logger).testLive() { client in
            try await body(client)
        }
    }

    func sql<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await TestDatabase.withClient(database, body)
    }
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]
let trustedOrigin = "https://app.connectors.test"

extension TestClientProtocol {
    func post(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var all = jsonHeaders
        all.append(contentsOf: headers)
        return try await execute(uri: uri, method: .post, headers: all, body: ByteBuffer(string: json))
    }

    func signUp(
        email: String = "ada@example.com", password: String = "correct-horse-9", rememberMe: Bool? = nil,
        ip: String? = nil
    ) async throws -> TestResponse {
        let remember = rememberMe.map { #","rememberMe":\#($0)"# } ?? ""
        var headers = HTTPFields()
        if let ip { headers[.xForwardedFor] = ip }
        return try await post(
            "/api/auth/sign-up/email", #"{"name":"Ada","email":"\#(email)","password":"\#(password)"\#(remember)}"#,
            headers: headers)
    }

    func signIn(
        email: String = "ada@example.com", password: String = "correct-horse-9", extra: String = "", ip: String? = nil
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let ip { headers[.xForwardedFor] = ip }
        return try await post(
            "/api/auth/sign-in/email", #"{"email":"\#(email)","password":"\#(password)"\#(extra)}"#, headers: headers)
    }
}

extension TestResponse {
    /// The `Set-Cookie` header for a cookie name.
    func setCookie(_ name: String) -> String? {
        headers[values: .setCookie].first { $0.hasPrefix(name + "=") }
    }

    /// `name=value` for sending the cookie back.
    func cookiePair(_ name: String) -> String? {
        setCookie(name)?.split(separator: ";").first.map(String.init)
    }
}
