import DB
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// `GET /oauth/connections` is served from memory while unchanged, and never stale once a
/// change — made by any replica — has returned.
@Suite struct ConnectionListCacheTests {
    func names(_ response: TestResponse) throws -> [String] {
        try #require(response.json["connections"] as? [[String: Any]]).map { $0["accountName"] as? String ?? "" }
    }

    /// An app trusting a fake JWKS, a user row and a JWT for that user.
    func withUser(
        overrides: [String: String] = [:],
        _ body: @escaping @Sendable (ConnectorsTestApp, String, String) async throws -> Void
    ) async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        try await withFakeServer(jwks.router) { base in
            let app = try await ConnectorsTestApp.make(
                overrides: overrides.merging(["AUTH_JWKS_URL": base + "/jwks.json"]) { $1 })
            let user = "cache-user-" + RandomToken.string(length: 8)
            try await app.insertUser(user)
            try await body(app, user, issuer.token(sub: user))
        }
    }

    @Test func aChangeThroughAnotherReplicaIsSeenAtOnce() async throws {
        // Cached for an hour, so the edit behind the service's back stays unseen below however
        // slowly the machine gets there (the default minute is the bound on that staleness).
        try await withUser(overrides: ["CONNECTION_LIST_CACHE_SECONDS": "3600"]) { app, user, bearer in
            let first = try await app.insertConnection(userId: user, accountId: "org-1")
            try await app.insertConnection(userId: user, provider: .github, accountId: "install-1")
            // Two replicas: separate processes' worth of memory over one database and Redis.
            try await app.test { replicaA in
                try await app.test { replicaB in
                    #expect(
                        try names(try await replicaA.get("/oauth/connections", bearer: bearer)) == ["Acme", "Acme"])
                    // A change behind the service's back is not seen: the list is cached…
                    try await app.sql { sql in
                        try await sql.query(#"UPDATE "connection" SET "accountName" = 'Renamed'"#)
                    }
                    let cached = try await replicaA.get("/oauth/connections", bearer: bearer)
                    #expect(try names(cached) == ["Acme", "Acme"])
                    #expect(cached.headers[.rateLimitRemaining] != nil)
                    // …until a change through the service, here at the other replica.
                    let deleted = try await replicaB.execute(
                        uri: "/oauth/connections/\(first)", method: .delete,
                        headers: [.authorization: "Bearer \(bearer)"])
                    #expect(deleted.status == .noContent)
                    #expect(try names(try await replicaA.get("/oauth/connections", bearer: bearer)) == ["Renamed"])
                }
            }
        }
    }

    @Test func turnedOffEveryListIsReadFromTheDatabase() async throws {
        try await withUser(overrides: ["CONNECTION_LIST_CACHE_SECONDS": "0"]) { app, user, bearer in
            try await app.insertConnection(userId: user, accountId: "org-1")
            try await app.test { client in
                #expect(try names(try await client.get("/oauth/connections", bearer: bearer)) == ["Acme"])
                try await app.sql { sql in try await sql.query(#"UPDATE "connection" SET "accountName" = 'Renamed'"#) }
                #expect(try names(try await client.get("/oauth/connections", bearer: bearer)) == ["Renamed"])
            }
        }
    }

    /// Runs `body` with a repository as another process (the webhook worker, a token refresh)
    /// has it: its own database pool and Redis connection.
    func elsewhere(_ app: ConnectorsTestApp, _ body: @escaping @Sendable (ConnectionRepository) async throws -> Void)
        async throws
    {
        try await app.sql { sql in
            // A change that cannot reach Redis in time leaves the other replica's list stale:
            // more than the default 2 s per command, for a loaded machine.
            var options = RedisClient.Options()
            options.commandTimeout = .seconds(10)
            options.connectTimeout = .seconds(10)
            let redis = RedisClient(url: app.config.common.redis, options: options, logger: Logger(label: "t"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await redis.run() }
                await redis.waitUntilConnected()
                try await body(
                    ConnectionRepository(
                        postgres: Postgres(sql), listCache: .unshared(redis),
                        audit: AuditTrail(postgres: Postgres(sql), logger: Logger(label: "t")),
                        logger: Logger(label: "t")))
                group.cancelAll()
            }
        }
    }

    @Test func statusChangesAndRefreshesMadeElsewhereMakeTheListStale() async throws {
        try await withUser { app, user, bearer in
            let id = try await app.insertConnection(userId: user, accountId: "org-9")
            try await app.test { client in
                func listed() async throws -> (status: String?, expiresAt: String?) {
                    let connection = try #require(
                        try await client.get("/oauth/connections", bearer: bearer).json["connections"]
                            as? [[String: Any]]
                    ).first
                    return (connection?["status"] as? String, connection?["expiresAt"] as? String)
                }
                #expect(try await listed().status == "active")
                // A revocation webhook for the account.
                try await elsewhere(app) { repository in
                    let changed = try await repository.setStatus(
                        provider: .linear, accountId: "org-9", .revoked, actor: "test")
                    #expect(changed == 1)
                }
                #expect(try await listed().status == "revoked")
                // A refresh refused with invalid_grant.
                try await elsewhere(app) { try await $0.setStatus(id: id, .reauthRequired, actor: "test") }
                #expect(try await listed().status == "reauth_required")
                // Connected again, then a successful refresh (a refresh alone never revives a
                // connection: it only stores tokens for an active one).
                try await elsewhere(app) { try await $0.setStatus(id: id, .active, actor: "test") }
                #expect(try await listed().status == "active")
                try await elsewhere(app) {
                    let stored = try await $0.updateTokens(
                        id: id, accessToken: "v1.sealed", refreshToken: nil,
                        expiresAt: Date(timeIntervalSince1970: 2_000_000_000))
                    #expect(stored)
                }
                let refreshed = try await listed()
                #expect(refreshed.status == "active")
                #expect(refreshed.expiresAt == "2033-05-18T03:33:20.000Z")
            }
        }
    }

    @Test func servesFromMemoryOnlyUnderTheSameValidatorAndWithinMaxAge() async throws {
        let redis = RedisClient(url: try TestServers.redisURL(), logger: Logger(label: "t"))
        func makeCache(maxAge: Duration) -> ConnectionListCache {
            ConnectionListCache(
                redis: redis, limiter: RateLimiter(redis: redis, logger: Logger(label: "t")),
                logger: Logger(label: "t"), maxAge: maxAge)
        }
        // Entries young enough whatever pauses a loaded machine makes between these lines…
        let lasting = makeCache(maxAge: .seconds(3600))
        // …and entries that age out fast, for the part about `maxAge`.
        let brief = makeCache(maxAge: .milliseconds(300))
        let loads = SendableBox(0)
        func body(_ cache: ConnectionListCache, _ validator: String?) async throws -> String {
            let buffer = try await cache.body(userId: "u", validator: validator) {
                ByteBuffer(string: "load-\(loads.update { $0 += 1; return $0 })")
            }
            return String(buffer: buffer)
        }
        #expect(try await body(lasting, "v1") == "load-1")
        #expect(try await body(lasting, "v1") == "load-1")
        #expect(try await body(lasting, "v2") == "load-2")
        // No validator (Redis unreachable): always from the loader, and not stored.
        #expect(try await body(lasting, nil) == "load-3")
        #expect(try await body(lasting, "v2") == "load-2")
        // Older than `maxAge` (the pause is a lower bound, so this holds on any machine): loaded again.
        #expect(try await body(brief, "v2") == "load-4")
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await body(brief, "v2") == "load-5")
        // A change in this process drops the entry even when Redis is unreachable (this client
        // never connected), so at least this replica is not stale.
        await lasting.invalidate(["u"])
        #expect(try await body(lasting, "v2") == "load-6")
    }

    /// The validator is read (or started) beside the rate-limit check, one command each, sent
    /// together; a refused request still reads it.
    @Test func readsOrStartsTheValidatorWithTheLimitCheck() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let limiter = RateLimiter(
                redis: redis, keyPrefix: "rl-test-" + RandomToken.string(length: 8), logger: Logger(label: "t"))
            let cache = ConnectionListCache(
                redis: redis, limiter: limiter, logger: Logger(label: "t"), maxAge: .seconds(3600))
            let user = "validator-" + RandomToken.string(length: 8)
            let rule = RateLimitRule(name: "api", limit: 2, window: .seconds(3600))
            // None yet: a fresh value becomes the validator, with its expiry.
            let first = await cache.check(rule, userId: user)
            let started = try #require(first.validator)
            #expect(first.decision.allowed && first.decision.remaining == 1)
            let key = ConnectionListCache.validatorKey(user)
            #expect(
                (1...ConnectionListCache.validatorMilliseconds).contains(
                    try await redis.send(["PTTL", key]).integer ?? -1))
            // Present: returned as it is; the request is still counted.
            let second = await cache.check(rule, userId: user)
            #expect(second.validator == started && second.decision.allowed && second.decision.remaining == 0)
            // Replaced by a change: the new value is read; a refused request still reads it.
            try await redis.send(["SET", key, "changed"])
            let third = await cache.check(rule, userId: user)
            #expect(third.validator == "changed" && !third.decision.allowed)
        }
    }
}
