import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import AuthService

/// Email sign-up and sign-in, to Better Auth's contract.
@Suite struct EmailAuthTests {
    let cookieName = "__Secure-better-auth.session_token"

    @Test func signUpCreatesTheUserAndASignedSessionCookie() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let response = try await client.signUp(email: "Ada@Example.com")
            #expect(response.status == .ok)
            let token = try #require(response.json["token"] as? String)
            #expect(token.count == 32)
            let user = try #require(response.json["user"] as? [String: Any])
            #expect(user["email"] as? String == "ada@example.com")
            #expect(user["name"] as? String == "Ada")
            #expect(user["emailVerified"] as? Bool == false)
            #expect(user.keys.contains("image"))
            #expect((user["createdAt"] as? String)?.hasSuffix("Z") == true)
            #expect((user["id"] as? String)?.count == 32)

            // Better Auth's cookie: token "." base64(HMAC-SHA256(secret, token)), URL-encoded.
            let setCookie = try #require(response.setCookie(cookieName))
            let mac = Data(
                HMAC<SHA256>.authenticationCode(
                    for: Data(token.utf8), using: SymmetricKey(data: Data(TestConfig.betterAuthSecret.utf8)))
            ).base64EncodedString()
            let value = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last)
            #expect(value.removingPercentEncoding == token + "." + mac)
            #expect(!value.contains("=") && !value.contains("+") && !value.contains("/"))
            #expect(setCookie.contains("; Max-Age=604800"))
            #expect(setCookie.contains("; Path=/"))
            #expect(setCookie.contains("; HttpOnly"))
            #expect(setCookie.contains("; Secure"))
            #expect(setCookie.contains("; SameSite=Lax"))
        }
    }

    @Test func httpPublicURLsGetCookiesWithoutTheSecurePrefix() async throws {
        let app = try await AuthTestApp.make(overrides: ["PUBLIC_URL": "http://localhost:3000"])
        try await app.test { client in
            let response = try await client.signUp()
            let setCookie = try #require(response.setCookie("better-auth.session_token"))
            #expect(!setCookie.contains("Secure"))
            #expect(response.setCookie(cookieName) == nil)
        }
    }

    @Test func signUpRejectsBadInputAndStoresNothing() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let invalidEmail = try await client.signUp(email: "not-an-email")
            #expect(invalidEmail.status == .badRequest)
            #expect(invalidEmail.errorCode == "INVALID_EMAIL")
            let short = try await client.signUp(password: "short")
            #expect(short.status == .badRequest)
            #expect(short.errorCode == "PASSWORD_TOO_SHORT")
            let long = try await client.signUp(password: String(repeating: "x", count: 129))
            #expect(long.errorCode == "PASSWORD_TOO_LONG")
            let missing = try await client.post("/api/auth/sign-up/email", #"{"email":"a@b.co","password":"12345678"}"#)
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "VALIDATION_ERROR")
            let redirect = try await client.post(
                "/api/auth/sign-up/email",
                #"{"name":"A","email":"a@b.co","password":"12345678","callbackURL":"https://evil.example/x"}"#)
            #expect(redirect.status == .forbidden)
            #expect(redirect.errorCode == "INVALID_CALLBACK_URL")

            #expect(try await client.signUp().status == .ok)
            let duplicate = try await client.signUp(email: "ADA@example.com")
            #expect(duplicate.status == .unprocessableContent)
            #expect(duplicate.errorCode == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
        }
        let users = try await app.sql { client in
            var count = 0
            for try await value in try await client.query(#"SELECT count(*)::int FROM "user""#).decode(Int.self) {
                count = value
            }
            return count
        }
        #expect(users == 1)
    }

    @Test func signInReturnsTheTokenAndUser() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            _ = try await client.signUp()
            let response = try await client.signIn(email: "ADA@example.com")
            #expect(response.status == .ok)
            #expect(response.json["redirect"] as? Bool == false)
            #expect((response.json["token"] as? String)?.count == 32)
            #expect((response.json["user"] as? [String: Any])?["email"] as? String == "ada@example.com")
            #expect(response.setCookie(cookieName) != nil)

            let withCallback = try await client.signIn(extra: #","callbackURL":"/dashboard""#)
            #expect(withCallback.json["redirect"] as? Bool == true)
            #expect(withCallback.json["url"] as? String == "/dashboard")
        }
    }

    @Test func wrongPasswordsAndUnknownEmailsAreIndistinguishable() async throws {
        // Room for the rounds below (sign-ups and sign-ins share the per-IP limit).
        let app = try await AuthTestApp.make { config in config.signInLimit.limit = 1000 }
        try await app.test { client in
            // An address of its own: the lockout counts failures per email and IP across tests.
            let email = "indistinguishable@example.com"
            _ = try await client.signUp(email: email)
            var wrong = [Duration](), unknown = [Duration]()
            // Five rounds, interleaved, so the fastest of each is seldom a moment the parallel
            // suites happened to leave the machine (or the hashing queue) alone for one side only.
            for _ in 0..<5 {
                let clock = ContinuousClock()
                var a: TestResponse?, b: TestResponse?
                wrong.append(
                    try await clock.measure { a = try await client.signIn(email: email, password: "wrong-password-1") })
                unknown.append(try await clock.measure { b = try await client.signIn(email: "nobody@example.com") })
                #expect(a?.status == .unauthorized && b?.status == .unauthorized)
                #expect(a?.errorCode == "INVALID_EMAIL_OR_PASSWORD" && b?.errorCode == "INVALID_EMAIL_OR_PASSWORD")
                #expect(a?.text == b?.text)
            }
            // An unknown email costs a full scrypt too. Hashing runs at idle priority, so on a
            // busy machine single timings swing widely: compare the fastest of each, loosely —
            // skipping scrypt would make the unknown-email path tens of times faster.
            #expect(unknown.min()! * 3 >= wrong.min()!)
        }
    }

    @Test func aBetterAuthImportedAccountSignsIn() async throws {
        let app = try await AuthTestApp.make()
        try await app.sql { client in
            try await client.query(
                #"INSERT INTO "user" ("id","name","email","emailVerified") VALUES ('imported-user', 'Grace', 'grace@example.com', true)"#
            )
            try await client.query(
                """
                INSERT INTO "account" ("id","accountId","providerId","userId","password")
                VALUES ('acc1', 'imported-user', 'credential', 'imported-user',
                '0f1e2d3c4b5a69788796a5b4c3d2e1f0:ce0a7f7f79cc59b12da1aad85312903aec34216177c1f787b73ffa7cd06379b70e5dba27e21302e5e413460e920aaee30ae13db40516854baf1eff56c90edda7')
                """)
        }
        try await app.test { client in
            let response = try await client.signIn(email: "grace@example.com", password: "correct horse battery staple")
            #expect(response.status == .ok)
            #expect((response.json["user"] as? [String: Any])?["id"] as? String == "imported-user")
        }
    }

    @Test func signInIsLimitedToTenPerMinutePerIP() async throws {
        // The ten a minute are the default's; the window here is an hour, so the eleven sign-ins
        // (each a full scrypt) never straddle its end on a loaded machine.
        let defaults = try AuthConfig(
            TestConfig.environment(database: try TestServers.databaseURL(), redis: try TestServers.redisURL())
        ).signInLimit
        #expect(defaults.limit == 10 && defaults.window == .seconds(60))
        let app = try await AuthTestApp.make { config in config.signInLimit.window = .seconds(3600) }
        try await app.test { client in
            for _ in 0..<10 {
                #expect(try await client.signIn(email: "x@example.com", ip: "198.51.100.30").status == .unauthorized)
            }
            let limited = try await client.signIn(email: "x@example.com", ip: "198.51.100.30")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try await client.signIn(email: "x@example.com", ip: "198.51.100.31").status == .unauthorized)
        }
    }

    @Test func theEleventhFailedSignInForAnEmailFromAnIPIsBlocked() async throws {
        let app = try await AuthTestApp.make { config in
            config.signInLimit.limit = 1000
        }
        try await app.test { client in
            _ = try await client.signUp(email: "target@example.com")
            for _ in 0..<10 {
                let failed = try await client.signIn(
                    email: "target@example.com", password: "guess-guess", ip: "203.0.113.50")
                #expect(failed.status == .unauthorized)
                // An error answer still reports the per-IP limit it was counted against.
                #expect(failed.headers[.rateLimitLimit] == "1000")
            }
            // Blocked now, even with the right password.
            let blocked = try await client.signIn(email: "target@example.com", ip: "203.0.113.50")
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.errorCode == "TOO_MANY_REQUESTS")
            let retryAfter = try #require(Int(blocked.headers[.retryAfter] ?? ""))
            #expect((800...900).contains(retryAfter))
            // The lockout's own figures, as every rate-limit refusal reports them.
            #expect(blocked.headers[values: .rateLimitLimit] == ["10"])
            #expect(blocked.headers[values: .rateLimitRemaining] == ["0"])
            #expect(blocked.headers[.rateLimitReset] == String(retryAfter))
            #expect(blocked.headers[.xRetryAfter] == String(retryAfter))
            // The same email from elsewhere, and another email from the same IP, still work.
            #expect(try await client.signIn(email: "target@example.com", ip: "203.0.113.51").status == .ok)
            #expect(try await client.signIn(email: "other@example.com", ip: "203.0.113.50").status == .unauthorized)
        }
    }

    /// Redis down: the lockout counts in this process instead of switching off.
    @Test func theLockoutHoldsWhileRedisIsUnreachable() async throws {
        let nowhere = RedisURL(host: "127.0.0.1", port: try FreePort.next())
        let app = try await AuthTestApp.make(redis: nowhere) { config in config.signInLimit.limit = 1000 }
        try await app.test { client in
            #expect(try await client.signUp(email: "target@example.com").status == .ok)
            for _ in 0..<10 {
                #expect(
                    try await client.signIn(email: "target@example.com", password: "guess-guess", ip: "203.0.113.70")
                        .status == .unauthorized)
            }
            let blocked = try await client.signIn(email: "target@example.com", ip: "203.0.113.70")
            #expect(blocked.status == .tooManyRequests)
            #expect((800...900).contains(Int(blocked.headers[.retryAfter] ?? "") ?? 0))
            #expect(try await client.signIn(email: "target@example.com", ip: "203.0.113.71").status == .ok)
        }
    }

    @Test func aSuccessClearsTheFailureCount() async throws {
        let app = try await AuthTestApp.make { config in config.signInLimit.limit = 1000 }
        try await app.test { client in
            _ = try await client.signUp(email: "ok@example.com")
            for _ in 0..<9 {
                _ = try await client.signIn(email: "ok@example.com", password: "bad-password", ip: "203.0.113.60")
            }
            #expect(try await client.signIn(email: "ok@example.com", ip: "203.0.113.60").status == .ok)
            for _ in 0..<9 {
                _ = try await client.signIn(email: "ok@example.com", password: "bad-password", ip: "203.0.113.60")
            }
            #expect(try await client.signIn(email: "ok@example.com", ip: "203.0.113.60").status == .ok)
        }
    }
}
