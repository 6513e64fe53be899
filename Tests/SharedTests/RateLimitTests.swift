import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Shared
import Testing
import TestSupport

/// The Redis-backed limiter through real HTTP.
@Suite struct RateLimitTests {
    func app(rule: RateLimitRule, redis: RedisURL? = nil, keyedByUser: Bool = false) async throws
        -> some ApplicationProtocol
    {
        try TestApp.make(
            database: try await TestDatabase.create(migrated: false), redis: try redis ?? TestServers.redisURL()
        ) { router, parts in
            let limited = router.group("/limited")
            if keyedByUser {
                limited.add(
                    middleware: RateLimitMiddleware(parts.limiter, rule: rule) { request, context in
                        "user:" + (request.headers[.testUser] ?? context.clientIP)
                    })
            } else {
                limited.add(middleware: RateLimitMiddleware(parts.limiter, rule: rule))
            }
            limited.get { _, _ in "ok" }
            router.group("/other").add(
                middleware: RateLimitMiddleware(
                    parts.limiter, rule: RateLimitRule(name: "other", limit: 1, window: .seconds(3600)))
            ).get { _, _ in "ok" }
        }
    }

    // Windows here are an hour where their length is not the point: requests on a loaded
    // machine can take seconds each, and must not straddle a window's end.

    @Test func allowsExactlyTheLimitThenAnswers429WithHeaders() async throws {
        let rule = RateLimitRule(name: "sign-in", limit: 5, window: .seconds(3600))
        try await app(rule: rule).testLive() { client in
            try await eventually("ready") { try await client.execute(uri: "/ready", method: .get).status == .ok }
            for expectedRemaining in stride(from: 4, through: 0, by: -1) {
                let response = try await client.execute(uri: "/limited", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitLimit] == "5")
                #expect(response.headers[.rateLimitRemaining] == String(expectedRemaining))
                let reset = Int(response.headers[.rateLimitReset] ?? "") ?? -1
                #expect((1...3600).contains(reset))
            }
            let refused = try await client.execute(uri: "/limited", method: .get)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.errorCode == "TOO_MANY_REQUESTS")
            #expect(refused.headers[.rateLimitLimit] == "5")
            #expect(refused.headers[.rateLimitRemaining] == "0")
            let retryAfter = Int(refused.headers[.retryAfter] ?? "") ?? -1
            #expect((1...3600).contains(retryAfter))
            #expect(refused.headers[.rateLimitReset] == refused.headers[.retryAfter])

            // Other clients and other route classes have windows of their own.
            let otherClient = try await client.execute(
                uri: "/limited", method: .get, headers: [.xForwardedFor: "198.51.100.20"])
            #expect(otherClient.status == .ok)
            #expect(otherClient.headers[.rateLimitRemaining] == "4")
            #expect(try await client.execute(uri: "/other", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/other", method: .get).status == .tooManyRequests)
        }
    }

    /// Timed from the first request, which starts the window: the third is refused if it was sent
    /// inside the window (checked only then — always, unless the machine all but stalls for
    /// 10 s), and the last waits until every window the three could have opened is over.
    @Test func aNewWindowStartsWhenTheOldOneExpires() async throws {
        let window = Duration.seconds(10)
        let rule = RateLimitRule(name: "short", limit: 2, window: window)
        try await app(rule: rule).testLive() { client in
            try await eventually("ready") { try await client.execute(uri: "/ready", method: .get).status == .ok }
            let opened = ContinuousClock.now
            #expect(try await client.execute(uri: "/limited", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/limited", method: .get).status == .ok)
            let third = try await client.execute(uri: "/limited", method: .get)
            let sent = ContinuousClock.now
            if sent - opened < window {
                #expect(third.status == .tooManyRequests)
            }
            try await Task.sleep(until: sent + window + .milliseconds(300), clock: .continuous)
            let fresh = try await client.execute(uri: "/limited", method: .get)
            #expect(fresh.status == .ok)
            #expect(fresh.headers[.rateLimitRemaining] == "1")
        }
    }

    @Test func ipv6ClientsAreCountedByTheirSlash64() async throws {
        #expect(RateLimitSource.key(for: "203.0.113.7") == "203.0.113.7")
        #expect(RateLimitSource.key(for: "2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64")
        #expect(RateLimitSource.key(for: "2001:0db8:0001:0002::ffff") == "2001:db8:1:2::/64")
        #expect(RateLimitSource.key(for: "2001:db8:1:3::1") == "2001:db8:1:3::/64")
        #expect(RateLimitSource.key(for: "::ffff:192.0.2.1") == "192.0.2.1")
        #expect(RateLimitSource.key(for: "not an address") == "not an address")
        let rule = RateLimitRule(name: "v6", limit: 2, window: .seconds(3600))
        try await app(rule: rule).testLive() { client in
            try await eventually("ready") { try await client.execute(uri: "/ready", method: .get).status == .ok }
            // Three addresses of one /64 (as a client rotating them would use) share one budget.
            for (address, expected) in [
                ("2001:db8:aa:bb::1", HTTPResponse.Status.ok), ("2001:db8:aa:bb::2", .ok),
                ("2001:db8:aa:bb:ffff:ffff:ffff:ffff", .tooManyRequests),
            ] {
                let response = try await client.execute(
                    uri: "/limited", method: .get, headers: [.xForwardedFor: address])
                #expect(response.status == expected, "\(address)")
            }
            // The next /64 has its own.
            #expect(
                try await client.execute(uri: "/limited", method: .get, headers: [.xForwardedFor: "2001:db8:aa:bc::1"])
                    .status == .ok)
        }
    }

    @Test func canBeKeyedByUserInsteadOfAddress() async throws {
        let rule = RateLimitRule(name: "api", limit: 2, window: .seconds(3600))
        try await app(rule: rule, keyedByUser: true).testLive() { client in
            try await eventually("ready") { try await client.execute(uri: "/ready", method: .get).status == .ok }
            for _ in 0..<2 {
                #expect(
                    try await client.execute(uri: "/limited", method: .get, headers: [.testUser: "alice"]).status == .ok
                )
            }
            #expect(
                try await client.execute(uri: "/limited", method: .get, headers: [.testUser: "alice"]).status
                    == .tooManyRequests)
            // Same address, another user: not limited by alice's count.
            #expect(try await client.execute(uri: "/limited", method: .get, headers: [.testUser: "bob"]).status == .ok)
        }
    }

    @Test func concurrentChecksNeverAdmitMoreThanTheLimit() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let limiter = RateLimiter(
                redis: redis, keyPrefix: "rl-test-" + RandomToken.string(length: 8), logger: Logger(label: "t"))
            let rule = RateLimitRule(name: "burst", limit: 20, window: .seconds(3600))
            let allowed = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<100 { group.addTask { await limiter.check(rule, client: "one").allowed } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(allowed == 20)
        }
    }

    @Test func usesOneKeyInRedisWithTheWindowAsItsExpiry() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let prefix = "rl-test-" + RandomToken.string(length: 8)
            let limiter = RateLimiter(redis: redis, keyPrefix: prefix, logger: Logger(label: "t"))
            let rule = RateLimitRule(name: "api", limit: 100, window: .seconds(3600))
            for _ in 0..<3 { _ = await limiter.check(rule, client: "203.0.113.5") }
            #expect(try await redis.send(["GET", "\(prefix):api:203.0.113.5"]).string == "3")
            let ttl = try await redis.send(["PTTL", "\(prefix):api:203.0.113.5"]).integer ?? -1
            // The window's expiry is set from the first hit (allowing minutes for a loaded machine).
            #expect((3_000_000...3_600_000).contains(ttl))
        }
    }
}
