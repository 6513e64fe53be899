import Foundation
import HTTPTypes
import HummingbirdTesting
import AsyncHTTPClient
import DB
import Logging
import MCP
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// Connecting Linear end to end, against a fake Linear that checks PKCE, and the attacks on it.
@Suite struct LinearOAuthTests {
    /// Runs a fake Linear, a JWKS and the connectors service configured for both.
    func withLinear<T: Sendable>(
        _ body:
            @Sendable (ConnectorsTestApp, any TestClientProtocol, FakeLinear, TestTokenIssuer, String) async throws -> T
    ) async throws -> T {
        let linear = FakeLinear()
        return try await withProviderFake(
            linear.router,
            overrides: { url in
                [
                    "LINEAR_CLIENT_ID": linear.clientID, "LINEAR_CLIENT_SECRET": linear.clientSecret, "LINEAR_URL": url,
                    "LINEAR_API_URL": url,
                ]
            }
        ) { app, client, issuer, url in try await body(app, client, linear, issuer, url) }
    }

    func connect(_ client: any TestClientProtocol, linearURL: String, bearer: String?) async throws -> String {
        try await Browser(client: client, fakeURL: linearURL).connect("linear", bearer: bearer)
    }

    func authorizeAtLinear(_ url: String, linearURL: String) async throws -> String {
        try await Browser.followAtFake(url, fakeURL: linearURL)
    }

    /// Connects Linear for the bearer's user and returns the connection's id.
    func connectedID(_ client: any TestClientProtocol, linearURL: String, bearer: String) async throws -> String {
        try #require(
            try await Browser(client: client, fakeURL: linearURL).connectAndLink("linear", bearer: bearer)["id"]
                as? String)
    }

    func link(_ client: any TestClientProtocol, code: String, bearer: String) async throws -> TestResponse {
        try await Browser(client: client, fakeURL: "").link("linear", code: code, bearer: bearer)
    }

    @Test func connectsListsRefreshesAndDeletes() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            func listed() async throws -> [[String: Any]] {
                try #require(
                    try await client.get("/oauth/connections", bearer: bearer).json["connections"] as? [[String: Any]])
            }
            // Listed (and cached) empty first: linking must make the cached list stale.
            #expect(try await listed().isEmpty)
            let started = try await Browser(client: client, fakeURL: linearURL).start("linear", bearer: bearer)
            let url = started.url
            let query = queryItems(url)
            #expect(url.hasPrefix(linearURL + "/oauth/authorize?"))
            #expect(query["redirect_uri"] == "https://connectors.test/oauth/linear/callback")
            #expect(query["scope"] == "read,write,issues:create,comments:create")
            #expect(query["code_challenge_method"] == "S256" && query["code_challenge"]?.count == 43)
            #expect(query["state"] == started.state)
            #expect(started.response.headers[.cacheControl] == "no-store")

            let landing = try await connect(client, linearURL: linearURL, bearer: bearer)
            #expect(landing.hasPrefix("https://connectors.test/connections?"))
            let code = try #require(queryItems(landing)["link"])
            #expect(queryItems(landing)["provider"] == "linear")

            let linked = try await link(client, code: code, bearer: bearer)
            #expect(linked.status == .ok)
            let connection = try #require(linked.json["connection"] as? [String: Any])
            #expect(connection["accountId"] as? String == "org-acme")
            #expect(connection["accountName"] as? String == "Acme Corp")
            // The Linear user who connected (`viewer`): who a session they create runs as.
            #expect(connection["providerUserId"] as? String == "user-lin-1")
            #expect(connection["providerUserName"] as? String == "Ada Linear")
            #expect(connection["scopes"] as? [String] == ["read", "write", "issues:create", "comments:create"])
            #expect(connection["status"] as? String == "active")
            #expect(connection["expiresAt"] is String)
            let id = try #require(connection["id"] as? String)

            #expect(try await listed().map { $0["id"] as? String } == [id])

            // At rest: no token the fake issued appears anywhere in the database.
            let dump = try await app.databaseDump()
            #expect(!dump.isEmpty)
            for token in linear.issued.get() { #expect(!dump.contains(token)) }

            // Refreshed when close to expiry: the rotated tokens are stored.
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '1 minute'"#)
            }
            let fresh = try await app.withTokens { tokens in
                let fresh = try await tokens.accessToken(connectionId: id)
                #expect(try await tokens.accessToken(connectionId: id) == fresh)
                return fresh
            }
            #expect(linear.refreshes.get() == 1)
            #expect(linear.accessTokens.get().contains(fresh))
            // The refresh (made by another process's repository) made the cached list stale.
            let refreshedExpiry = try #require(try await listed().first?["expiresAt"] as? String)
            #expect(refreshedExpiry != connection["expiresAt"] as? String)

            let deleted = try await client.execute(
                uri: "/oauth/connections/\(id)", method: .delete, headers: [.authorization: "Bearer \(bearer)"])
            #expect(deleted.status == .noContent)
            #expect(linear.revoked.get() == [fresh])
            #expect(try await app.connectionCount() == 0)
            #expect(try await listed().isEmpty)

            // On the record, newest first, by the person — and never a token.
            let audit = try await client.get("/audit", bearer: bearer)
            let events = try #require(audit.json["events"] as? [[String: Any]])
            #expect(
                events.compactMap { $0["action"] as? String } == ["connection.disconnected", "connection.connected"])
            #expect(
                events.allSatisfy { $0["target"] as? String == "linear Acme Corp" && $0["actor"] as? String == "user" })
            for token in linear.issued.get() { #expect(!String(buffer: audit.body).contains(token)) }
            #expect(
                (try await client.get("/audit", bearer: issuer.token(sub: "user-2")).json["events"] as? [Any])?.isEmpty
                    == true)
            // Pages: one event, then the other, then none.
            let first = try await client.get("/audit?limit=1", bearer: bearer).json
            let cursor = try #require(first["nextCursor"] as? String)
            let second = try await client.get("/audit?limit=1&cursor=\(cursor)", bearer: bearer).json
            #expect((second["events"] as? [[String: Any]])?.first?["action"] as? String == "connection.connected")
            #expect(second["nextCursor"] == nil || second["nextCursor"] is NSNull)
            #expect(try await client.get("/audit?cursor=x", bearer: bearer).status == .badRequest)
        }
    }

    @Test func twoConcurrentRefreshesCallLinearOnce() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            let id = try await connectedID(client, linearURL: linearURL, bearer: bearer)
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '1 minute'"#)
            }
            linear.refreshDelay.set(.milliseconds(300))
            // Two replicas' worth: separate database pools and Redis connections.
            let results = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await app.withTokens { try await $0.accessToken(connectionId: id) } }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(results[0] == results[1])
            #expect(linear.refreshes.get() == 1)
        }
    }

    /// A revocation webhook that lands while a refresh is at Linear stands: the refresh does
    /// not bring the connection back to `active`.
    @Test func aRevocationDuringARefreshStands() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            let id = try await connectedID(client, linearURL: linearURL, bearer: bearer)
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '1 minute'"#)
            }
            // Linear holds the refresh until the revocation has landed, however long that takes.
            linear.holdRefreshes.set(true)
            let refresh = Task { try await app.withTokens { try await $0.accessToken(connectionId: id) } }
            try await eventually("the refresh reaches Linear") { linear.refreshesStarted.get() == 1 }
            try await app.sql { sql in try await sql.query(#"UPDATE "connection" SET "status" = 'revoked'"#) }
            linear.holdRefreshes.set(false)
            await #expect(throws: ConnectionTokens.Failure.revoked) { _ = try await refresh.value }
            #expect(linear.refreshes.get() == 1)
            let listed = try await client.get("/oauth/connections", bearer: bearer)
            #expect((listed.json["connections"] as? [[String: Any]])?.first?["status"] as? String == "revoked")
        }
    }

    /// Refreshing ahead of expiry is a courtesy: if Linear fails then, the unexpired token is used.
    @Test func aFailedEarlyRefreshFallsBackToTheUnexpiredToken() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            let id = try await connectedID(client, linearURL: linearURL, bearer: bearer)
            let current = try #require(linear.issued.get().first)
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '2 minutes'"#)
            }
            linear.failing.set(true)
            #expect(try await app.withTokens { try await $0.accessToken(connectionId: id) } == current)
            // Once it has expired there is nothing to fall back to.
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() - interval '1 minute'"#)
            }
            await #expect(throws: ConnectionTokens.Failure.self) {
                try await app.withTokens { try await $0.accessToken(connectionId: id) }
            }
        }
    }

    /// One user linking the same Linear organisation from two tabs at once ends with one
    /// connection whose tokens open (not a row holding tokens sealed for another id).
    @Test func twoLinksOfOneAccountAtOnceLeaveOneReadableConnection() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            for n in 1...4 {
                let user = "racer-\(n)"
                try await app.insertUser(user)
                let bearer = issuer.token(sub: user)
                var codes = [String]()
                for _ in 0..<2 {
                    codes.append(
                        try #require(
                            queryItems(try await connect(client, linearURL: linearURL, bearer: bearer))["link"]))
                }
                let statuses = try await withThrowingTaskGroup(of: HTTPTypes.HTTPResponse.Status.self) { group in
                    for code in codes { group.addTask { try await link(client, code: code, bearer: bearer).status } }
                    return try await group.reduce(into: [HTTPTypes.HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses == [.ok, .ok])
                let listed = try #require(
                    try await client.get("/oauth/connections", bearer: bearer).json["connections"] as? [[String: Any]])
                #expect(listed.count == 1)
                let id = try #require(listed.first?["id"] as? String)
                let token = try await app.withTokens { try await $0.accessToken(connectionId: id) }
                #expect(linear.issued.get().contains(token))
            }
        }
    }

    @Test func aRefusedRefreshMarksTheConnectionForReauthorisation() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            let id = try await connectedID(client, linearURL: linearURL, bearer: bearer)
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() - interval '1 minute'"#)
            }
            linear.refreshTokens.set([])  // revoked at Linear
            await #expect(throws: ConnectionTokens.Failure.reauthRequired) {
                try await app.withTokens { try await $0.accessToken(connectionId: id) }
            }
            let listed = try await client.get("/oauth/connections", bearer: bearer)
            #expect((listed.json["connections"] as? [[String: Any]])?.first?["status"] as? String == "reauth_required")
            let event = (try await client.get("/audit", bearer: bearer).json["events"] as? [[String: Any]])?.first
            #expect(event?["action"] as? String == "connection.reauth_required")
            #expect(event?["actor"] as? String == "token refresh")
            #expect(event?["surface"] as? String == "system")
        }
    }

    @Test func replayedForgedAndDeniedCallbacksStoreNothing() async throws {
        try await withLinear { app, client, linear, issuer, linearURL in
            let bearer = issuer.token(sub: "user-1")
            func listed() async throws -> [[String: Any]] {
                try #require(
                    try await client.get("/oauth/connections", bearer: bearer).json["connections"] as? [[String: Any]])
            }
            // Listed (and cached) empty first: linking must make the cached list stale.
            #expect(try await listed().isEmpty)
            let browser = Browser(client: client, fakeURL: linearURL)
            let started = try await browser.start("linear", bearer: bearer)
            let authorize = try await authorizeAtLinear(started.url, linearURL: linearURL)
            let first = try await browser.callback(pathAndQuery(authorize), cookie: started.cookie)
            #expect(queryItems(try #require(first.headers[.location]))["link"] != nil)
            #expect(first.headers[.setCookie]?.contains("Max-Age=0") == true)
            // The same callback again, cookie and all: the state is spent.
            let replay = try await browser.callback(pathAndQuery(authorize), cookie: started.cookie)
            #expect(
                replay.headers[.location] == "https://connectors.test/connections?provider=linear&error=invalid_state")
            // A state we never issued, and one whose signed payload was edited (another user).
            let forged = try await browser.callback("/oauth/linear/callback?code=abc&state=forged.AAAA", cookie: nil)
            #expect(queryItems(try #require(forged.headers[.location]))["error"] == "invalid_state")
            let other = try await browser.start("linear", bearer: bearer)
            let edited = try editedState(other.state) { $0["u"] = "user-2" }
            let tampered = try await browser.callback(
                "/oauth/linear/callback?code=abc&state=\(edited)", cookie: other.cookie)
            #expect(queryItems(try #require(tampered.headers[.location]))["error"] == "invalid_state")
            // The user declined at Linear.
            let declined = try await browser.start("linear")
            let denied = try await browser.callback(
                "/oauth/linear/callback?error=access_denied&state=\(declined.state)", cookie: declined.cookie)
            #expect(
                denied.headers[.location] == "https://connectors.test/connections?provider=linear&error=access_denied")
            // An open-redirect attempt changes nothing about where the browser goes.
            let redirect = try await browser.callback(
                "/oauth/linear/callback?state=x&redirect_uri=https://evil.example", cookie: nil)
            #expect(redirect.headers[.location]?.hasPrefix("https://connectors.test/connections?") == true)
            let pending = try await app.sql { sql in
                for try await count in try await sql.query(#"SELECT count(*)::int FROM "pendingLink""#).decode(Int.self)
                { return count }
                return -1
            }
            #expect(pending == 1)
            #expect(try await app.connectionCount() == 0)
        }
    }

    @Test func aCodeVerifierFromAnotherFlowIsRefusedByLinear() async throws {
        try await withLinear { app, client, linear, _, linearURL in
            // Authorize flow A, then present A's code with flow B's state (and so B's verifier).
            let browser = Browser(client: client, fakeURL: linearURL)
            let flowA = try await browser.start("linear")
            let flowB = try await browser.start("linear")
            let authorizeA = try await authorizeAtLinear(flowA.url, linearURL: linearURL)
            let codeA = try #require(queryItems(authorizeA)["code"])
            let callback = try await browser.callback(
                "/oauth/linear/callback?code=\(codeA)&state=\(flowB.state)", cookie: flowB.cookie)
            #expect(queryItems(try #require(callback.headers[.location]))["error"] == "token_exchange_failed")
            #expect(linear.refusals.get() == ["invalid_grant"])
            #expect(try await app.connectionCount() == 0)
        }
    }

    /// A code exchange that went through, then a step after it failed: the new token is revoked
    /// at Linear, not left live with nothing here to use or revoke it later.
    @Test func aGrantThatCannotBeUsedIsRevoked() async throws {
        try await withLinear { app, client, linear, _, linearURL in
            // The fake records each exchange's access and refresh token, in that order.
            func lastAccessToken() -> String? { linear.issued.get().suffix(2).first }
            // Linear down after the exchange: the organization cannot be read.
            linear.graphQLDown.set(true)
            let unreadable = try await connect(client, linearURL: linearURL, bearer: nil)
            #expect(queryItems(unreadable)["error"] != nil && queryItems(unreadable)["link"] == nil)
            #expect(linear.revoked.get() == [try #require(lastAccessToken())])
            linear.graphQLDown.set(false)
            // The result cannot be stored.
            try await app.sql { sql in
                try await sql.query(
                    #"CREATE FUNCTION "refuse"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"#
                )
                try await sql.query(
                    #"CREATE TRIGGER "refuse" BEFORE INSERT ON "pendingLink" FOR EACH ROW EXECUTE FUNCTION "refuse"()"#)
            }
            let unstored = try await connect(client, linearURL: linearURL, bearer: nil)
            #expect(queryItems(unstored)["error"] == "server_error")
            #expect(linear.revoked.get().count == 2 && linear.revoked.get().last == lastAccessToken())
            try await app.sql { sql in try await sql.query(#"DROP TRIGGER "refuse" ON "pendingLink""#) }
            // Stored, but its link code expired unclaimed: the sweep revokes it as it deletes it.
            let parked = try await connect(client, linearURL: linearURL, bearer: nil)
            #expect(queryItems(parked)["link"] != nil)
            #expect(linear.revoked.get().count == 2)
            let config = app.config
            try await app.sql { sql in
                try await sql.query(#"UPDATE "pendingLink" SET "linkExpiresAt" = now() - interval '1 second'"#)
                let logger = Logger(label: "sweep-test")
                try await Upkeep.sweepPendingLinks(
                    PendingLinkRepository(postgres: Postgres(sql), logger: logger),
                    revoker: GrantRevoker(
                        providers: testProviders(config, logger: logger), postgres: Postgres(sql),
                        sealer: TokenSealer(box: config.secretBox), logger: logger))
            }
            #expect(linear.revoked.get().count == 3 && linear.revoked.get().last == lastAccessToken())
            #expect(try await app.connectionCount() == 0)
        }
    }

    @Test func aFailingTokenEndpointIsAClearErrorAndStoresNothing() async throws {
        try await withLinear { app, client, linear, _, linearURL in
            linear.failing.set(true)
            let landing = try await connect(client, linearURL: linearURL, bearer: nil)
            #expect(queryItems(landing)["error"] == "token_exchange_failed")
            #expect(queryItems(landing)["link"] == nil)
            #expect(try await app.connectionCount() == 0)
        }
    }

    @Test func aTokenEndpointThatTimesOutIsAClearErrorAndStoresNothing() async throws {
        let linear = FakeLinear()
        // Far beyond the timeout (the fake's wait is cut short when the test ends).
        linear.exchangeDelay.set(.seconds(60))
        try await withProviderFake(
            linear.router,
            overrides: { url in
                [
                    "LINEAR_CLIENT_ID": linear.clientID, "LINEAR_CLIENT_SECRET": linear.clientSecret, "LINEAR_URL": url,
                    "LINEAR_API_URL": url,
                ]
            }, configure: { $0.providerTimeout = .milliseconds(500) }
        ) { app, client, _, url in
            let started = ContinuousClock.now
            let landing = try await Browser(client: client, fakeURL: url).connect("linear", bearer: nil)
            // Cut off at the 500 ms timeout, not when the fake answers after 60 s. The bound is the
            // point; it is generous because three requests on a loaded machine take seconds.
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(queryItems(landing)["error"] == "token_exchange_failed")
            #expect(try await app.connectionCount() == 0)
            let pending = try await app.sql { sql in
                for try await count in try await sql.query(#"SELECT count(*)::int FROM "pendingLink""#).decode(Int.self)
                { return count }
                return -1
            }
            #expect(pending == 0)
        }
    }

    @Test func linkCodesAreSingleUseAndBoundToTheUserWhoStarted() async throws {
        try await withLinear { app, client, _, issuer, linearURL in
            let owner = issuer.token(sub: "user-1")
            let other = issuer.token(sub: "user-2")
            let code = try #require(queryItems(try await connect(client, linearURL: linearURL, bearer: owner))["link"])
            let stolen = try await link(client, code: code, bearer: other)
            #expect(stolen.status == .forbidden)
            #expect(stolen.errorCode == "LINK_BOUND_TO_ANOTHER_USER")
            #expect(try await link(client, code: code, bearer: owner).status == .ok)
            let again = try await link(client, code: code, bearer: owner)
            #expect(again.status == .badRequest)
            #expect(again.errorCode == "INVALID_LINK_CODE")
            #expect(try await link(client, code: "made-up.code", bearer: owner).errorCode == "INVALID_LINK_CODE")
            let wrongProvider = try await client.execute(
                uri: "/oauth/slack/link", method: .post,
                headers: [.authorization: "Bearer \(owner)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"code":"x"}"#))
            #expect(wrongProvider.status == .serviceUnavailable)
            #expect(try await app.connectionCount() == 1)
            // Connecting the same Linear organization again updates that connection.
            let second = try #require(
                queryItems(try await connect(client, linearURL: linearURL, bearer: owner))["link"])
            #expect(try await link(client, code: second, bearer: owner).status == .ok)
            #expect(try await app.connectionCount() == 1)
            // An unbound flow (started without a JWT) is claimed by whoever signs in — in the
            // browser that finished it: its code sent to someone else does not attach the sender's
            // Linear to them.
            let browser = Browser(client: client, fakeURL: linearURL)
            let started = try await browser.start("linear", bearer: nil)
            let landed = try await browser.callback(
                pathAndQuery(try await Browser.followAtFake(started.url, fakeURL: linearURL)), cookie: started.cookie)
            let location = try #require(landed.headers[.location])
            let unbound = try #require(queryItems(location)["link"])
            let linkCookie = try #require(landed.headers[values: .setCookie].first { $0.contains("link_nonce=") })
            #expect(linkCookie.contains("Path=/oauth/linear/link") && linkCookie.contains("HttpOnly"))
            #expect(linkCookie.contains("SameSite=Strict"))
            let elsewhere = try await link(client, code: unbound, bearer: other)
            #expect(elsewhere.status == .forbidden)
            #expect(elsewhere.errorCode == "LINK_FROM_ANOTHER_BROWSER")
            let forgedCookie = try await browser.link(
                "linear", code: unbound, bearer: other, cookie: "connectors.link_nonce=someone-elses")
            #expect(forgedCookie.errorCode == "LINK_FROM_ANOTHER_BROWSER")
            let here = try await browser.link(
                "linear", code: unbound, bearer: other, cookie: String(linkCookie.prefix { $0 != ";" }))
            #expect(here.status == .ok)
            #expect(here.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await app.connectionCount() == 2)
        }
    }

    @Test func unknownAndUnconfiguredProviders() async throws {
        let jwks = FakeJWKS(issuer: try TestTokenIssuer())
        try await jwks.withApp { _, client in
            let unknown = try await client.execute(uri: "/oauth/dropbox", method: .get)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "PROVIDER_NOT_FOUND")
            let unconfigured = try await client.execute(uri: "/oauth/linear", method: .get)
            #expect(unconfigured.status == .serviceUnavailable)
            #expect(unconfigured.errorCode == "PROVIDER_NOT_CONFIGURED")
            #expect((unconfigured.json["message"] as? String)?.contains("LINEAR_CLIENT_ID") == true)
        }
    }
}

extension ConnectorsTestApp {
    /// The connection repository on this app's database and Redis, as the service builds it.
    func withConnections<T: Sendable>(
        _ body: @Sendable (ConnectionRepository, PostgresClient, RedisClient, Logger) async throws -> T
    ) async throws -> T {
        let config = config
        return try await TestDatabase.withClient(database) { postgres in
            var logger = Logger(label: "connections-test")
            logger.logLevel = .warning
            var options = RedisClient.Options()
            options.commandTimeout = .seconds(10)
            let redis = RedisClient(url: config.common.redis, options: options, logger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await redis.run(); return nil
                }
                defer { group.cancelAll() }
                await redis.waitUntilConnected()
                let connections = ConnectionRepository(
                    postgres: Postgres(postgres), listCache: .unshared(redis),
                    audit: AuditTrail(postgres: Postgres(postgres), logger: logger), logger: logger)
                return try await body(connections, postgres, redis, logger)
            }
        }
    }

    /// The token refresher, as the agent will use it, on this app's database and Redis.
    func withTokens<T: Sendable>(_ body: @Sendable (ConnectionTokens) async throws -> T) async throws -> T {
        let config = config
        return try await withConnections { connections, _, redis, logger in
            try await body(
                ConnectionTokens(
                    connections: connections, sealer: TokenSealer(box: config.secretBox),
                    // Calls to the fakes, and the wait for another refresher, get room on a loaded machine.
                    providers: testProviders(config, logger: logger), redis: redis,
                    logger: logger, waitLimit: .seconds(60)))
        }
    }
}

@Suite struct ScopeListTests {
    @Test func parsesEveryShapeProvidersUse() {
        #expect(ScopeList.parse("read write") == ["read", "write"])
        #expect(ScopeList.parse("read,write,issues:create") == ["read", "write", "issues:create"])
        #expect(ScopeList.parse(["read", "comments:create"]) == ["read", "comments:create"])
        #expect(ScopeList.parse(["read write"]) == ["read", "write"])
        #expect(ScopeList.parse(nil).isEmpty)
        #expect(ScopeList.parse(42).isEmpty)
    }
}

@Suite struct PendingLinkSweeperTests {
    @Test func deletesOnlyExpiredLinks() async throws {
        let app = try await ConnectorsTestApp.make()
        try await app.sql { sql in
            try await sql.query(
                #"INSERT INTO "pendingLink" ("codeHash", "connectionId", "provider", "accountId", "linkExpiresAt") VALUES ('old', 'c1', 'linear', 'a', now() - interval '1 second'), ('new', 'c2', 'linear', 'a', now() + interval '5 minutes')"#
            )
            try await PendingLinkRepository(postgres: Postgres(sql), logger: Logger(label: "sweeper-test"))
                .deleteExpired()
            var left = [String]()
            for try await hash in try await sql.query(#"SELECT "codeHash" FROM "pendingLink""#).decode(String.self) {
                left.append(hash)
            }
            #expect(left == ["new"])
        }
    }
}

/// The providers as the service builds them, over an HTTP client with room for a loaded machine.
func testProviders(_ config: ConnectorsConfig, logger: Logger) -> ProviderRegistry {
    let http = ProviderHTTP(client: .shared, timeout: .seconds(60))
    return ProviderRegistry(
        config, http: http, apis: ProviderAPIs(http: http, urls: config.common.providers), logger: logger)
}
