import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Testing
import Shared
import TestSupport

@testable import ConnectorsService

/// A connectors service on a fresh database, over real HTTP.
struct ConnectorsTestApp {
    let database: DatabaseURL
    let config: ConnectorsConfig

    static func make(overrides: [String: String] = [:], configure: (inout ConnectorsConfig) -> Void = { _ in })
        async throws -> ConnectorsTestApp
    {
        let database = try await TestDatabase.create(migrated: true)
        var config = try ConnectorsConfig(
            TestConfig.environment(database: database, redis: try TestServers.redisURL(), overrides: overrides))
        // Tests share Redis: each app gets its own rate-limit keys. (A shared per-IP window would
        // fill up from every parallel test's OAuth requests, the sooner the faster they run.)
        config.userLimit.name += "-" + RandomToken.string(length: 8)
        config.agentLimit.name += "-" + RandomToken.string(length: 8)
        config.ipLimit.name += "-" + RandomToken.string(length: 8)
        config.webhookFailureName += "-" + RandomToken.string(length: 8)
        // Calls to the local fakes get room on a loaded machine; a test of the timeout sets its own.
        config.providerTimeout = .seconds(60)
        configure(&config)
        Telemetry.bootstrap(logLevel: .warning)
        return ConnectorsTestApp(database: database, config: config)
    }

    func test<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "connectors-test")
        logger.logLevel = .warning
        return try await buildApplication(config, logger: logger).testLive() { client in
            // Start once PostgreSQL and Redis are connected (the rate limiter would otherwise
            // count the first requests in its in-memory fallback).
            try await eventually("connectors /ready") {
                try await client.execute(uri: "/ready", method: .get).status == .ok
            }
            return try await body(client)
        }
    }

    func sql<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await TestDatabase.withClient(database, body)
    }

    /// A user row (connections reference users).
    func insertUser(_ id: String) async throws {
        try await sql { sql in
            try await sql.query(
                #"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES (\#(id), 'Test', \#(id + "@example.com"), true, now(), now())"#
            )
        }
    }

    /// A connection row with sealed tokens, as the OAuth flow stores them.
    @discardableResult
    func insertConnection(
        userId: String, provider: ProviderID = .linear, accountId: String = "org-1",
        accessToken: String = "access-token-1", providerUserId: String? = nil
    ) async throws -> String {
        let id = RandomToken.string(length: 24)
        let sealer = TokenSealer(box: config.secretBox)
        let sealed = try sealer.seal(accessToken, id: id, provider: provider)
        try await sql { sql in
            try await sql.query(
                """
                INSERT INTO "connection" ("id", "userId", "provider", "accountId", "accountName", "providerUserId", "scopes", "accessToken")
                VALUES (\(id), \(userId), \(provider.rawValue), \(accountId), 'Acme', \(providerUserId), \(["read", "write"]), \(sealed))
                """)
        }
        return id
    }

    /// Every row of every table, as text: what an attacker with a database dump would read.
    func databaseDump() async throws -> String {
        try await sql { sql in
            var tables = [String]()
            for try await table in try await sql.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                .decode(String.self)
            {
                tables.append(table)
            }
            var text = ""
            for table in tables {
                for try await row in try await sql.query("SELECT row_to_json(t)::text FROM \"\(unescaped: table)\" t")
                    .decode(String.self)
                { text += row }
            }
            return text
        }
    }

    func connectionCount() async throws -> Int {
        try await sql { sql in
            for try await count in try await sql.query(#"SELECT count(*)::int FROM "connection""#).decode(Int.self) {
                return count
            }
            return -1
        }
    }
}

/// A stand-in for the auth service's JWKS endpoint that counts fetches and can be taken down.
final class FakeJWKS: Sendable {
    let issuer: TestTokenIssuer
    let fetches = SendableBox(0)
    let down = SendableBox(false)

    init(issuer: TestTokenIssuer) { self.issuer = issuer }

    var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/jwks.json") { _, _ -> Response in
            self.fetches.update { $0 += 1 }
            if self.down.get() { return Response(status: .serviceUnavailable) }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: self.issuer.jwks)))
        }
        return router
    }

    /// Runs the fake and a connectors app that trusts it.
    func withApp<T: Sendable>(
        overrides: [String: String] = [:], configure: @escaping @Sendable (inout ConnectorsConfig) -> Void = { _ in },
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        try await withFakeServer(router) { base in
            let app = try await ConnectorsTestApp.make(
                overrides: overrides.merging(["AUTH_JWKS_URL": base + "/jwks.json"]) { $1 }, configure: configure)
            return try await app.test { client in try await body(app, client) }
        }
    }
}

extension TestClientProtocol {
    func get(_ uri: String, bearer: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(bearer)"])
    }
}

/// The path and query of an absolute URL (to replay a redirect against a local server).
func pathAndQuery(_ url: String) -> String {
    guard let components = URLComponents(string: url) else { return url }
    return components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
}

/// The query items of a URL, by name.
func queryItems(_ url: String) -> [String: String] {
    Dictionary(
        (URLComponents(string: url)?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
        uniquingKeysWith: { first, _ in first })
}

/// Runs a fake provider, a JWKS and the connectors service configured for both (`overrides`
/// gets the fake's base URL), with users `user-1` and `user-2`.
func withProviderFake<T: Sendable>(
    _ router: Router<BasicRequestContext>, overrides: @escaping @Sendable (String) -> [String: String],
    configure: @escaping @Sendable (inout ConnectorsConfig) -> Void = { _ in },
    _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol, TestTokenIssuer, String) async throws -> T
) async throws -> T {
    let jwks = FakeJWKS(issuer: try TestTokenIssuer())
    return try await withFakeServer(router) { fakeURL in
        try await jwks.withApp(overrides: overrides(fakeURL), configure: configure) { app, client in
            try await app.insertUser("user-1")
            try await app.insertUser("user-2")
            return try await body(app, client, jwks.issuer, fakeURL)
        }
    }
}

/// Runs a fake GitHub App and the connectors service configured for it.
func withGitHubApp<T: Sendable>(
    appOAuth: Bool = true, variables extra: [String: String] = [:],
    configure: @escaping @Sendable (inout ConnectorsConfig) -> Void = { _ in },
    _ body: @Sendable (ConnectorsTestApp, Browser, FakeGitHubApp, TestTokenIssuer) async throws -> T
) async throws -> T {
    let github = try FakeGitHubApp(setupURL: "https://connectors.test/oauth/github/callback")
    return try await withProviderFake(
        github.router,
        overrides: { url in
            var variables = extra.merging([
                "GITHUB_URL": url, "GITHUB_API_URL": url, "GITHUB_APP_NAME": github.appName,
                "GITHUB_APP_ID": github.appID,
                // As a one-line .env value, with literal \n.
                "GITHUB_APP_PRIVATE_KEY": github.privateKeyPEM.replacingOccurrences(of: "\n", with: "\\n"),
            ]) { _, new in new }
            if appOAuth {
                variables["GITHUB_APP_CLIENT_ID"] = github.clientID
                variables["GITHUB_APP_CLIENT_SECRET"] = github.clientSecret
            }
            return variables
        }, configure: configure
    ) { app, client, issuer, url in try await body(app, Browser(client: client, fakeURL: url), github, issuer) }
}

/// The browser's part of a connect flow.
struct Browser {
    let client: any TestClientProtocol
    let fakeURL: String

    /// A flow as `GET /oauth/P` started it: the authorize URL, its state, and the nonce cookie
    /// (`name=value`) this browser now holds for the callback.
    struct Started {
        let response: TestResponse
        let url: String
        let state: String
        let cookie: String
    }

    /// `GET /oauth/P`, as the console's fetch makes it.
    func start(_ provider: String, bearer: String? = nil) async throws -> Started {
        var headers = HTTPFields()
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        let started = try await client.execute(uri: "/oauth/\(provider)", method: .get, headers: headers)
        #expect(started.status == .ok)
        let setCookie = try #require(started.headers[.setCookie])
        #expect(setCookie.contains("Path=/oauth/\(provider)/callback") && setCookie.contains("HttpOnly"))
        return Started(
            response: started, url: try #require(started.json["url"] as? String),
            state: try #require(started.json["state"] as? String),
            cookie: String(setCookie.prefix { $0 != ";" }))
    }

    /// The provider sending the browser back to `uri` (path and query), with the browser's cookie.
    func callback(_ uri: String, cookie: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let cookie { headers[.cookie] = cookie }
        let landing = try await client.execute(uri: uri, method: .get, headers: headers)
        #expect(landing.status == .found)
        return landing
    }

    /// `GET /oauth/P`, the provider's consent page (the fake), then our callback. Returns the
    /// console URL the callback redirects to.
    func connect(_ provider: String, bearer: String?) async throws -> String {
        let started = try await start(provider, bearer: bearer)
        // Single-workspace Slack sends the browser straight back to us.
        let callback =
            started.url.hasPrefix("https://connectors.test/")
            ? started.url : try await Self.followAtFake(started.url, fakeURL: fakeURL)
        return try #require(try await self.callback(pathAndQuery(callback), cookie: started.cookie).headers[.location])
    }

    /// Requests `url` at the fake and returns where it redirects.
    static func followAtFake(_ url: String, fakeURL: String) async throws -> String {
        let port = try #require(URLComponents(string: fakeURL)?.port)
        return try await TestClient.withClient(host: "127.0.0.1", port: port) { fake in
            let response = try await fake.get(pathAndQuery(url))
            #expect(response.status == .found)
            return try #require(response.headers[.location])
        }
    }

    /// Claims a link code; `cookie` (`name=value`) is what this browser holds for the link route.
    func link(_ provider: String, code: String, bearer: String, cookie: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "application/json"]
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(
            uri: "/oauth/\(provider)/link", method: .post, headers: headers,
            body: ByteBuffer(string: #"{"code":"\#(code)"}"#))
    }

    /// Connects and links for `bearer`'s user; returns the connection JSON.
    func connectAndLink(_ provider: String, bearer: String) async throws -> [String: Any] {
        let code = try #require(queryItems(try await connect(provider, bearer: bearer))["link"])
        let linked = try await link(provider, code: code, bearer: bearer)
        #expect(linked.status == .ok)
        return try #require(linked.json["connection"] as? [String: Any])
    }
}
