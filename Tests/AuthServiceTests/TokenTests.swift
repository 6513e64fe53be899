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

@testable import AuthService

/// RS256 JWTs and the JWKS, checked with PyJWT.
@Suite struct TokenTests {
    let cookieName = "__Secure-better-auth.session_token"
    let audience = "https://connectors.test"

    func jwks(_ client: any TestClientProtocol) async throws -> Data {
        Data(try await client.execute(uri: "/.well-known/jwks.json", method: .get).body.readableBytesView)
    }

    @Test func tokenNeedsASession() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let response = try await client.execute(uri: "/api/auth/token", method: .get)
            #expect(response.status == .unauthorized)
            #expect(response.errorCode == "UNAUTHORIZED")
        }
    }

    @Test func tokensVerifyIndependentlyWithTheSpecsClaims() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let signUp = try await client.signUp()
            let cookie = try #require(signUp.cookiePair(cookieName))
            let userID = try #require((signUp.json["user"] as? [String: Any])?["id"] as? String)
            // `iat` is the time of signing: within this request, however long it (and PyJWT after
            // it) takes on a loaded machine.
            let requested = Int(Date().timeIntervalSince1970)
            let response = try await client.execute(uri: "/api/auth/token", method: .get, headers: [.cookie: cookie])
            let answered = Int(Date().timeIntervalSince1970)
            #expect(response.status == .ok)
            let token = try #require(response.json["token"] as? String)
            let verified = try #require(
                try await PyJWT.verify(token: token, jwks: try await jwks(client), audience: audience))
            #expect(verified.header["alg"] as? String == "RS256")
            #expect(verified.header["typ"] as? String == "JWT")
            #expect((verified.header["kid"] as? String)?.isEmpty == false)
            let claims = verified.claims
            #expect(claims["sub"] as? String == userID)
            #expect(claims["email"] as? String == "ada@example.com")
            #expect(claims["name"] as? String == "Ada")
            #expect(claims["emailVerified"] as? Bool == false)
            #expect(claims["iss"] as? String == audience && claims["aud"] as? String == audience)
            let iat = try #require(claims["iat"] as? Int), exp = try #require(claims["exp"] as? Int)
            #expect(exp - iat == 900)
            #expect(
                ((requested - 1)...(answered + 1)).contains(iat),
                "iat \(iat), requested at \(requested), answered at \(answered)")

            // Tampering with the payload or the signature is caught.
            let parts = token.split(separator: ".").map(String.init)
            var payload = try #require(Base64URL.decode(parts[1]))
            let json = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: userID, with: "someone-else")
            payload = Array(json.utf8)
            let forgedPayload = [parts[0], Base64URL.encode(payload), parts[2]].joined(separator: ".")
            #expect(
                try await PyJWT.verify(token: forgedPayload, jwks: try await jwks(client), audience: audience) == nil)
            var signature = try #require(Base64URL.decode(parts[2]))
            signature[10] ^= 0x01
            let forgedSignature = [parts[0], parts[1], Base64URL.encode(signature)].joined(separator: ".")
            #expect(
                try await PyJWT.verify(token: forgedSignature, jwks: try await jwks(client), audience: audience) == nil)
            // A token for another audience is refused.
            #expect(
                try await PyJWT.verify(token: token, jwks: try await jwks(client), audience: "https://other.test")
                    == nil)
        }
    }

    @Test func getSessionSendsAReusedJWT() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let first = try #require(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie])
                    .headers[.setAuthJWT])
            #expect(try await PyJWT.verify(token: first, jwks: try await jwks(client), audience: audience) != nil)
            try await Task.sleep(for: .milliseconds(1100))
            let second = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]
            ).headers[.setAuthJWT]
            // The same token (same iat): no new signature for a polling client.
            #expect(second == first)
            // /token always signs afresh.
            let fresh = try #require(
                try await client.execute(uri: "/api/auth/token", method: .get, headers: [.cookie: cookie]).json["token"]
                    as? String)
            #expect(fresh != first)
            // No session, no JWT.
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get).headers[.setAuthJWT] == nil)
        }
    }

    @Test func jwksIsServedAtBothPathsWithPublicPartsOnly() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let wellKnown = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            let betterAuth = try await client.execute(uri: "/api/auth/jwks", method: .get)
            #expect(wellKnown.status == .ok)
            #expect(wellKnown.headers[.cacheControl] == "public, max-age=300")
            #expect(betterAuth.headers[.cacheControl] == "public, max-age=300")
            #expect(wellKnown.body == betterAuth.body)
            let keys = try #require(wellKnown.json["keys"] as? [[String: Any]])
            #expect(keys.count == 1)
            let key = keys[0]
            #expect(Set(key.keys) == ["kty", "alg", "use", "kid", "n", "e"])
            #expect(
                key["kty"] as? String == "RSA" && key["alg"] as? String == "RS256" && key["use"] as? String == "sig")
            #expect(Base64URL.decode(key["n"] as? String ?? "")?.count == 256)
            #expect(key["e"] as? String == "AQAB")

            // Served from memory: with the table gone from under it, the JWKS (and signing) go on
            // unchanged. (Gone rather than emptied: the periodic reload, every 30 s, then fails and
            // keeps what it has, so a reload falling between these lines on a slow machine changes
            // nothing either.)
            try await app.sql { sql in _ = try await sql.query(#"ALTER TABLE "jwks" RENAME TO "jwks_moved_away""#) }
            let afterRemoval = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(afterRemoval.status == .ok)
            #expect(afterRemoval.body == wellKnown.body)
        }
    }

    @Test func replicasStartingTogetherCreateOneKey() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let count = try await TestDatabase.withClient(database) { postgres in
            let repository = SigningKeyRepository(
                postgres: Postgres(postgres), vault: KeyVault(secret: TestConfig.betterAuthSecret),
                logger: Logger(label: "t"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await repository.ensureKey() } }
                try await group.waitForAll()
            }
            var rows = 0
            for try await value in try await postgres.query(#"SELECT count(*)::int FROM "jwks""#).decode(Int.self) {
                rows = value
            }
            return rows
        }
        #expect(count == 1)
    }

    @Test func rotationPublishesAtOnceSignsAfterACachePeriodAndRetiresTheOldKey() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await TestDatabase.withClient(database) { postgres in
            let logger = Logger(label: "t")
            let repository = SigningKeyRepository(
                postgres: Postgres(postgres), vault: KeyVault(secret: TestConfig.betterAuthSecret), logger: logger)
            let keys = SigningKeys(repository: repository, cachePeriod: 300, logger: logger)
            let issuer = JWTIssuer(keys: keys, issuer: "https://connectors.test")
            try await keys.start()
            let start = Date()
            let old = try #require(keys.signer(now: start))
            let user = User(
                id: "u1", name: "Ada", email: "ada@example.com", emailVerified: true, image: nil, createdAt: start,
                updatedAt: start)
            let (oldToken, _) = try await issuer.sign(user: user, key: old, now: start)

            let newID = try await repository.rotate(retireAfter: 300 * 2 + 900, now: start)
            try await keys.reload(now: start)
            let published = Set(
                (try JSONSerialization.jsonObject(with: Data(keys.jwks.readableBytesView)) as? [String: [[String: Any]]])?[
                    "keys"]?.compactMap { $0["kid"] as? String } ?? [])
            #expect(published == [old.id, newID])
            // The old key still signs during the first cache period; then the new one does.
            #expect(keys.signer(now: start.addingTimeInterval(10))?.id == old.id)
            #expect(keys.signer(now: start.addingTimeInterval(301))?.id == newID)
            // A token signed before the rotation still verifies against the JWKS after it.
            #expect(
                try await PyJWT.verify(
                    token: oldToken, jwks: Data(keys.jwks.readableBytesView), audience: "https://connectors.test")
                    != nil)

            // Once its last token has expired plus a cache period, the old key is gone.
            try await keys.reload(now: start.addingTimeInterval(1499))
            #expect(String(buffer: keys.jwks).contains(old.id))
            try await keys.reload(now: start.addingTimeInterval(1501))
            #expect(!String(buffer: keys.jwks).contains(old.id))
            #expect(String(buffer: keys.jwks).contains(newID))
        }
    }

    @Test func aChangedSecretStopsStartUpWithOneLine() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let binary = ServiceBinary("AuthService")
        let port = try FreePort.next()
        var variables = TestConfig.variables(
            database: database, redis: try TestServers.redisURL(), overrides: ["AUTH_PORT": String(port)])
        let first = try binary.start(environment: variables)
        try await ServiceBinary.waitForHealth(port: port, process: first)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)

        variables["BETTER_AUTH_SECRET"] = "a-completely-different-secret-0123456789"
        let (status, output) = try await binary.run(environment: variables)
        #expect(status == 78, "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(
            lines.first?.hasPrefix(
                "AuthService: configuration error: BETTER_AUTH_SECRET cannot decrypt the stored JWT signing keys")
                == true)
        #expect(!output.contains("a-completely-different-secret"))
    }
}
