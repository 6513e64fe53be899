import AsyncHTTPClient
import Foundation
import Logging
import HTTPTypes
import HummingbirdTesting
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// JWT verification on the connectors routes (spec section 5), against a JWKS server.
@Suite struct JWTAuthTests {
    @Test func aValidTokenListsTheCallersConnections() async throws {
        let jwks = FakeJWKS(issuer: try TestTokenIssuer())
        try await jwks.withApp { app, client in
            try await app.insertUser("user-1")
            try await app.insertUser("user-2")
            let mine = try await app.insertConnection(userId: "user-1")
            try await app.insertConnection(userId: "user-2", provider: .slack, accountId: "T1")
            let response = try await client.get("/oauth/connections", bearer: jwks.issuer.token(sub: "user-1"))
            #expect(response.status == .ok)
            let list = try #require(response.json["connections"] as? [[String: Any]])
            #expect(list.count == 1)
            let connection = try #require(list.first)
            #expect(connection["id"] as? String == mine)
            #expect(
                Set(connection.keys) == [
                    "id", "provider", "accountId", "accountName", "providerUserId", "providerUserName", "scopes",
                    "status", "statusReason", "expiresAt", "createdAt", "updatedAt",
                ])
            #expect(connection["status"] as? String == "active")
            #expect(connection["scopes"] as? [String] == ["read", "write"])
            #expect(!response.text.contains("access-token") && !response.text.contains("v1."))
            #expect(response.headers[.rateLimitLimit] == "100")
        }
    }

    @Test func everyForgedOrInvalidTokenIs401WithWWWAuthenticate() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        // The time-based cases sit an hour from the 60 s leeway, so they mean the same however
        // long the parallel suites stretch this test.
        let now = Int(Date().timeIntervalSince1970)
        let valid = issuer.token()
        let parts = valid.split(separator: ".").map(String.init)
        var payload = try #require(Base64URL.decode(parts[1]))
        payload[payload.count / 2] ^= 0x01
        let cases: [(String, String?)] = [
            ("no header", nil),
            ("not bearer", "Basic dXNlcjpwYXNz"),
            ("empty bearer", "Bearer "),
            ("only spaces after bearer", "Bearer    "),
            ("scheme glued to the token", "Bearer" + valid),
            ("a tab for the space", "Bearer\t" + valid),
            ("another scheme that starts alike", "Bearerx " + valid),
            ("garbage", "Bearer not-a-jwt"),
            ("alg none", "Bearer " + issuer.unsignedToken()),
            ("HS256 with the public key", "Bearer " + issuer.hs256WithPublicKey()),
            ("missing kid", "Bearer " + issuer.token(header: ["alg": "RS256", "typ": "JWT"])),
            ("unknown kid", "Bearer " + issuer.token(header: ["alg": "RS256", "kid": "someone-else", "typ": "JWT"])),
            (
                "RS256 header claiming another alg",
                "Bearer " + issuer.token(header: ["alg": "RS512", "kid": issuer.kid])
            ),
            ("expired", "Bearer " + issuer.token(claims: ["exp": now - 3600, "iat": now - 4500])),
            ("nbf in the future", "Bearer " + issuer.token(claims: ["nbf": now + 3600])),
            ("iat in the future", "Bearer " + issuer.token(claims: ["iat": now + 3600, "exp": now + 4500])),
            ("wrong iss", "Bearer " + issuer.token(claims: ["iss": "https://evil.example"])),
            ("wrong aud", "Bearer " + issuer.token(claims: ["aud": "https://evil.example"])),
            ("no exp", "Bearer " + issuer.token(claims: ["exp": NSNull()])),
            ("empty sub", "Bearer " + issuer.token(sub: "")),
            ("tampered payload", "Bearer " + [parts[0], Base64URL.encode(payload), parts[2]].joined(separator: ".")),
            (
                "tampered signature",
                "Bearer " + [parts[0], parts[1], String(parts[2].reversed())].joined(separator: ".")
            ),
        ]
        try await jwks.withApp { _, client in
            for (name, authorization) in cases {
                var headers = HTTPFields()
                if let authorization { headers[.authorization] = authorization }
                let response = try await client.execute(uri: "/oauth/connections", method: .get, headers: headers)
                #expect(response.status == .unauthorized, "\(name)")
                #expect(response.headers[.wwwAuthenticate] == #"Bearer error="invalid_token""#, "\(name)")
                #expect(response.errorCode == "UNAUTHORIZED", "\(name)")
            }
            // Within the 60 s leeway, and an audience array naming us: accepted. Made as it is
            // sent (the requests above may have taken a minute): expired 5 s before.
            let sentAt = Int(Date().timeIntervalSince1970)
            let lenient = issuer.token(claims: ["exp": sentAt - 5, "aud": ["https://other.example", issuer.issuer]])
            #expect(try await client.get("/oauth/connections", bearer: lenient).status == .ok)
            // The scheme is case-insensitive (RFC 9110 §11.1), spaces before the token allowed.
            for scheme in ["bearer ", "BEARER ", "Bearer   "] {
                let response = try await client.execute(
                    uri: "/oauth/connections", method: .get, headers: [.authorization: scheme + issuer.token()])
                #expect(response.status == .ok, "\(scheme)")
            }
        }
    }

    @Test func aFloodOfUnknownKeyIDsFetchesTheJWKSAtMostOncePer30Seconds() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        try await jwks.withApp { _, client in
            #expect(try await client.get("/oauth/connections", bearer: issuer.token()).status == .ok)
            let before = jwks.fetches.get()
            // At most one refetch per 30 s: one, unless a loaded machine stretches the flood
            // past 30 s, when each further 30 s may bring one more.
            let flooding = ContinuousClock.now
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<40 {
                    let forged = issuer.token(header: ["alg": "RS256", "kid": "random-\(index)", "typ": "JWT"])
                    group.addTask { try await client.get("/oauth/connections", bearer: forged).status }
                }
                for try await status in group { #expect(status == .unauthorized) }
            }
            let afterFlood = jwks.fetches.get() - before
            #expect(afterFlood <= 1 + Int((ContinuousClock.now - flooding) / .seconds(30)))
            // The known key still works, without another fetch.
            #expect(try await client.get("/oauth/connections", bearer: issuer.token()).status == .ok)
            #expect(jwks.fetches.get() - before == afterFlood)
        }
    }

    @Test func cachedKeysKeepWorkingWhileTheAuthServiceIsDown() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        try await jwks.withApp { _, client in
            #expect(try await client.get("/oauth/connections", bearer: issuer.token()).status == .ok)
            jwks.down.set(true)
            // A miss triggers a refetch that fails; the cached key is kept.
            _ = try await client.get(
                "/oauth/connections", bearer: issuer.token(header: ["alg": "RS256", "kid": "new-key", "typ": "JWT"]))
            #expect(try await client.get("/oauth/connections", bearer: issuer.token(sub: "user-2")).status == .ok)
        }
    }

    @Test func deletingIsForTheOwnerOnly() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        try await jwks.withApp { app, client in
            try await app.insertUser("user-1")
            try await app.insertUser("user-2")
            let theirs = try await app.insertConnection(userId: "user-2")
            let mine = try await app.insertConnection(userId: "user-1")
            let mineToken = issuer.token(sub: "user-1")
            let foreign = try await client.execute(
                uri: "/oauth/connections/\(theirs)", method: .delete, headers: [.authorization: "Bearer \(mineToken)"])
            #expect(foreign.status == .notFound)
            #expect(foreign.errorCode == "CONNECTION_NOT_FOUND")
            #expect(try await app.connectionCount() == 2)
            let own = try await client.execute(
                uri: "/oauth/connections/\(mine)", method: .delete, headers: [.authorization: "Bearer \(mineToken)"])
            #expect(own.status == .noContent)
            #expect(try await app.connectionCount() == 1)
            let again = try await client.execute(
                uri: "/oauth/connections/\(mine)", method: .delete, headers: [.authorization: "Bearer \(mineToken)"])
            #expect(again.status == .notFound)
        }
    }

    @Test func requestsAreLimitedPerUserNotPerAddress() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        // A long window, so the requests never straddle a window boundary.
        try await jwks.withApp(configure: {
            $0.userLimit.limit = 3; $0.userLimit.window = .seconds(3600)
        }) { _, client in
            let first = issuer.token(sub: "user-1")
            for _ in 0..<3 { #expect(try await client.get("/oauth/connections", bearer: first).status == .ok) }
            let limited = try await client.get("/oauth/connections", bearer: first)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            // Another user from the same address is not affected.
            #expect(try await client.get("/oauth/connections", bearer: issuer.token(sub: "user-2")).status == .ok)
        }
    }

    /// A token verified once is not verified again, but its time checks run on every use.
    @Test func aCachedVerificationStillExpires() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        try await withFakeServer(jwks.router) { base in
            let cache = JWKSCache(url: base + "/jwks.json", http: .shared, logger: Logger(label: "jwks-test"))
            let clock = SendableBox(Date())
            let verifier = JWTVerifier(keys: cache, issuer: issuer.issuer, now: { clock.get() })
            let token = issuer.token()
            let first: AuthenticatedUser = try await verifier.verify(token)
            let second: AuthenticatedUser = try await verifier.verify(token)
            #expect(first.id == "user-1" && second == first)
            #expect(jwks.fetches.get() == 1)
            clock.set(Date().addingTimeInterval(900 + 61))
            await #expect(throws: JWTVerifier.Failure.expired) { try await verifier.verify(token) }
            // A forged variant of a cached token is still checked in full.
            await #expect(throws: JWTVerifier.Failure.self) { try await verifier.verify(token + "A") }
        }
    }
}
