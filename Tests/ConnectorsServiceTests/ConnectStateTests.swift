import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// The connect flow's state: self-contained (starting writes nothing), bound to the browser,
/// expiring, and spent once.
@Suite struct ConnectStateTests {
    /// Runs a fake Linear and the connectors service on Redis database `redisDatabase`, which no
    /// other test uses, so every key in it is this test's.
    func withLinear<T: Sendable>(
        redisDatabase: Int? = nil,
        _ body: @Sendable (ConnectorsTestApp, Browser, TestTokenIssuer) async throws -> T
    ) async throws -> T {
        let linear = FakeLinear()
        var redis = try TestServers.redisURL()
        if let redisDatabase { redis.database = redisDatabase }
        let redisURL = TestConfig.url(redis)
        return try await withProviderFake(
            linear.router,
            overrides: { url in
                [
                    "LINEAR_CLIENT_ID": linear.clientID, "LINEAR_CLIENT_SECRET": linear.clientSecret, "LINEAR_URL": url,
                    "LINEAR_API_URL": url, "REDIS_URL": redisURL,
                ]
            },
            // Every request reaches the route: the point is what the route itself writes.
            configure: { $0.ipLimit.limit = 1_000_000 }
        ) { app, client, issuer, url in try await body(app, Browser(client: client, fakeURL: url), issuer) }
    }

    @Test func startingTenThousandFlowsWritesNothingToRedis() async throws {
        var redisURL = try TestServers.redisURL()
        redisURL.database = 11
        try await withRedis(redisURL) { redis in
            _ = try await redis.send(["FLUSHDB"])
            try await withLinear(redisDatabase: 11) { app, browser, _ in
                let before = Set(try await keys(redis))
                let states = try await withThrowingTaskGroup(of: [String].self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            var states = [String]()
                            for _ in 0..<625 {
                                let started = try await browser.client.execute(uri: "/oauth/linear", method: .get)
                                try #require(started.status == .ok)
                                states.append(try #require(started.json["state"] as? String))
                            }
                            return states
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.formUnion($1) }
                }
                #expect(states.count == 10_000)
                let added = Set(try await keys(redis)).subtracting(before)
                // The per-IP limiter's counter, and nothing else.
                #expect(added.count == 1)
                #expect(added.allSatisfy { $0.hasPrefix("rl:\(app.config.ipLimit.name):") }, "\(added)")
            }
        }
    }

    @Test func aCallbackFromAnotherBrowserIsRefusedAndLeavesTheFlowToItsOwner() async throws {
        try await withLinear { app, browser, issuer in
            let bearer = issuer.token(sub: "user-1")
            let victims = try await browser.start("linear", bearer: bearer)
            let authorized = try await Browser.followAtFake(victims.url, fakeURL: browser.fakeURL)
            // The attacker has the callback URL (code and state) but not the victim's cookie:
            // without one, or with the cookie of a flow the attacker started.
            let attackers = try await browser.start("linear")
            for cookie in [nil, attackers.cookie, victims.cookie.replacingOccurrences(of: "=", with: "=x")] {
                let refused = try await browser.callback(pathAndQuery(authorized), cookie: cookie)
                #expect(queryItems(try #require(refused.headers[.location]))["error"] == "invalid_state")
            }
            #expect(try await app.connectionCount() == 0)
            // The refusals spent nothing: the browser that started the flow finishes it.
            let landing = try await browser.callback(pathAndQuery(authorized), cookie: victims.cookie)
            let location = try #require(landing.headers[.location])
            let code = try #require(queryItems(location)["link"])
            let linked = try await browser.link("linear", code: code, bearer: bearer)
            #expect(linked.status == .ok)
        }
    }

    @Test func aStateForAnotherProviderOrPastItsTenMinutesIsRefused() async throws {
        try await withLinear { app, browser, _ in
            let redis = try TestServers.redisURL()
            try await withRedis(redis) { client in
                let states = ConnectStates(secret: TestConfig.jwtSecret, redis: client, secureCookies: true)
                let stale = try states.issue(provider: .linear, userId: nil, now: Date().addingTimeInterval(-601))
                let slack = try states.issue(provider: .slack, userId: nil)
                let fresh = try states.issue(provider: .linear, userId: nil)
                func error(_ issued: ConnectStates.Issued) async throws -> String? {
                    let landing = try await browser.callback(
                        "/oauth/linear/callback?code=abc&state=\(issued.state)",
                        cookie: String(issued.cookie.prefix { $0 != ";" }))
                    return queryItems(try #require(landing.headers[.location]))["error"]
                }
                #expect(try await error(stale) == "invalid_state")
                #expect(try await error(slack) == "invalid_state")
                // The same making, current and for this provider, passes the state check and
                // fails only at Linear (the code was never issued).
                #expect(try await error(fresh) == "token_exchange_failed")
            }
            #expect(try await app.connectionCount() == 0)
        }
    }

    @Test func theStateIsSignedAndTheCookieScopedToTheCallback() async throws {
        try await withLinear { _, browser, issuer in
            let started = try await browser.start("linear", bearer: issuer.token(sub: "user-1"))
            let setCookie = try #require(started.response.headers[.setCookie])
            #expect(setCookie.hasPrefix("__Secure-connectors.connect_nonce="))
            for attribute in ["Max-Age=600", "Path=/oauth/linear/callback", "Secure", "HttpOnly", "SameSite=Lax"] {
                #expect(setCookie.contains(attribute), "\(attribute)")
            }
            // Readable, so nothing secret is in it: no verifier, no nonce.
            let payload = try #require(Base64URL.decode(String(started.state.prefix { $0 != "." })))
            let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
            #expect(Set(claims.keys) == ["i", "p", "u", "b", "e"])
            #expect(claims["u"] as? String == "user-1")
            let nonce = String(started.cookie.drop { $0 != "=" }.dropFirst())
            #expect(!String(decoding: payload, as: UTF8.self).contains(nonce))
        }
    }
}

/// Every key in the client's Redis database.
func keys(_ redis: RedisClient) async throws -> [String] {
    var cursor = "0"
    var found = [String]()
    repeat {
        let reply = try #require(try await redis.send(["SCAN", cursor, "COUNT", "1000"]).array)
        cursor = try #require(reply.first?.string)
        found += (reply.last?.array ?? []).compactMap(\.string)
    } while cursor != "0"
    return found
}

/// `state` with its signed payload edited and the original signature kept.
func editedState(_ state: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
    let head = String(state.prefix { $0 != "." })
    let signature = state.dropFirst(head.count + 1)
    let payload = try #require(Base64URL.decode(head))
    var claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
    edit(&claims)
    return Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: claims))) + "." + signature
}
