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

/// get-session, sliding refresh, rememberMe, sign-out and the CSRF origin check.
@Suite struct SessionTests {
    let cookieName = "__Secure-better-auth.session_token"

    @Test func getSessionWithCookieOrBearerToken() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let signUp = try await client.signUp()
            let token = try #require(signUp.json["token"] as? String)
            let cookie = try #require(signUp.cookiePair(cookieName))

            for path in ["/api/auth/get-session", "/api/auth/session"] {
                let response = try await client.execute(uri: path, method: .get, headers: [.cookie: cookie])
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                let session = try #require(response.json["session"] as? [String: Any])
                #expect(session["token"] as? String == token)
                #expect(
                    Set(session.keys) == [
                        "id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId",
                    ])
                #expect((response.json["user"] as? [String: Any])?["email"] as? String == "ada@example.com")
                // A fresh session is not due for refresh: no cookie re-sent.
                #expect(response.setCookie(cookieName) == nil)
            }
            let bearer = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect((bearer.json["session"] as? [String: Any])?["token"] as? String == token)
            // An app that sends its API JWT on every request: that bearer is not a session
            // credential, so the cookie answers — and is not expired.
            let jwt = try #require(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie])
                    .headers[.setAuthJWT])
            let both = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie, .authorization: "Bearer \(jwt)"])
            #expect((both.json["session"] as? [String: Any])?["token"] as? String == token)
            #expect(both.setCookie(cookieName) == nil)
        }
    }

    @Test func noOrForgedSessionIsNull() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let signUp = try await client.signUp()
            let token = try #require(signUp.json["token"] as? String)
            let none = try await client.execute(uri: "/api/auth/get-session", method: .get)
            #expect(none.status == .ok)
            #expect(none.text == "null")
            // The right token with a forged signature, and an unknown bearer token.
            let forged = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: "\(cookieName)=\(token).AAAA"])
            #expect(forged.text == "null")
            let unsigned = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: "\(cookieName)=\(token)"])
            #expect(unsigned.text == "null")
            let unknown = try await client.execute(
                uri: "/api/auth/get-session", method: .get,
                headers: [.authorization: "Bearer \(String(repeating: "a", count: 32))"])
            #expect(unknown.text == "null")
        }
    }

    @Test func expiredSessionsAreNull() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            try await app.sql { sql in
                try await sql.query(#"UPDATE "session" SET "expiresAt" = now() - interval '1 second'"#)
            }
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text
                    == "null")
        }
    }

    @Test func slidingRefreshExtendsASessionDueForIt() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            // Last extended two days ago: five days left, less than expiresIn - updateAge (6 days).
            try await app.sql { sql in
                try await sql.query(#"UPDATE "session" SET "expiresAt" = now() + interval '5 days'"#)
            }
            // Seven days from the moment of this request, however long the request takes.
            let requested = Date()
            let response = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie])
            let answered = Date()
            let expiresAt = try #require((response.json["session"] as? [String: Any])?["expiresAt"] as? String)
            let date = try #require(
                try? Date(expiresAt, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
            let week: TimeInterval = 7 * 24 * 3600
            #expect(
                date >= requested.addingTimeInterval(week - 1) && date <= answered.addingTimeInterval(week + 1),
                "\(expiresAt)")
            #expect(response.setCookie(cookieName)?.contains("Max-Age=604800") == true)
        }
    }

    @Test func rememberMeFalseGivesADaySessionAndABrowserSessionCookie() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            _ = try await client.signUp()
            // A day from the moment of signing in, however long these requests take.
            let requested = Date()
            let response = try await client.signIn(extra: #","rememberMe":false"#)
            let setCookie = try #require(response.setCookie(cookieName))
            #expect(!setCookie.contains("Max-Age"))
            let marker = try #require(response.cookiePair("__Secure-better-auth.dont_remember"))
            let cookie = try #require(response.cookiePair(cookieName))
            let session = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: "\(cookie); \(marker)"])
            let answered = Date()
            let expiresAt = try #require((session.json["session"] as? [String: Any])?["expiresAt"] as? String)
            let date = try #require(
                try? Date(expiresAt, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
            let day: TimeInterval = 24 * 3600
            #expect(
                date >= requested.addingTimeInterval(day - 1) && date <= answered.addingTimeInterval(day + 1),
                "\(expiresAt)")
            #expect(session.setCookie(cookieName) == nil)
        }
    }

    @Test func signOutDeletesTheSessionAndExpiresTheCookie() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let headers: HTTPFields = [.cookie: cookie, .origin: trustedOrigin]
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).json[
                    "session"] != nil)
            let response = try await client.post("/api/auth/sign-out", "{}", headers: headers)
            #expect(response.status == .ok)
            #expect(response.json["success"] as? Bool == true)
            #expect(response.setCookie(cookieName)?.contains("Max-Age=0") == true)
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text
                    == "null")
            // Signed out already, or a cookie that no longer verifies: still 200, cookies expired.
            let again = try await client.post("/api/auth/sign-out", "{}", headers: [.origin: trustedOrigin])
            #expect(again.status == .ok)
            #expect(again.setCookie(cookieName)?.contains("Max-Age=0") == true)
            let stale = try await client.post(
                "/api/auth/sign-out", "{}",
                headers: [.cookie: "\(cookieName)=forged.c2lnbmF0dXJl", .origin: trustedOrigin])
            #expect(stale.status == .ok)
            #expect(stale.setCookie(cookieName)?.contains("Max-Age=0") == true)
        }
        let sessions = try await app.sql { sql in
            var count = -1
            for try await value in try await sql.query(#"SELECT count(*)::int FROM "session""#).decode(Int.self) {
                count = value
            }
            return count
        }
        #expect(sessions == 0)
    }

    @Test func cookieBearingWritesNeedATrustedOrigin() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let evil = try await client.post(
                "/api/auth/sign-out", "{}", headers: [.cookie: cookie, .origin: "https://evil.example"])
            #expect(evil.status == .forbidden)
            #expect(evil.errorCode == "INVALID_ORIGIN")
            let missing = try await client.post("/api/auth/sign-out", "{}", headers: [.cookie: cookie])
            #expect(missing.status == .forbidden)
            #expect(missing.errorCode == "MISSING_OR_NULL_ORIGIN")
            let null = try await client.post("/api/auth/sign-out", "{}", headers: [.cookie: cookie, .origin: "null"])
            #expect(null.errorCode == "MISSING_OR_NULL_ORIGIN")
            // The session survived the forged requests.
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).json[
                    "session"] != nil)
            // A trusted Referer is accepted when Origin is absent.
            let referer = try await client.post(
                "/api/auth/sign-out", "{}", headers: [.cookie: cookie, .referer: "https://connectors.test/settings"])
            #expect(referer.status == .ok)
        }
    }

    /// A replica serves a session it has just read without reading it again, and notices a
    /// revocation made elsewhere (here: straight in the database) once the cache period is over.
    ///
    /// Timed from the first read, whose request brackets the moment the session was cached: a
    /// 20 s period keeps the second read inside it on a loaded machine (checked only when it
    /// was; it always is unless the machine all but stalls), and the last read waits until the
    /// period is certainly over.
    @Test func sessionsRevokedElsewhereStopWorkingAfterTheCachePeriod() async throws {
        let app = try await AuthTestApp.make(overrides: ["SESSION_CACHE_SECONDS": "20"])
        #expect(app.config.sessionCacheTTL == 20)
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let headers: HTTPFields = [.cookie: cookie]
            let reading = ContinuousClock.now
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: headers).json["session"]
                    != nil)
            let cached = ContinuousClock.now
            try await app.sql { sql in try await sql.query(#"DELETE FROM "session""#) }
            let stillServed = try await client.execute(uri: "/api/auth/get-session", method: .get, headers: headers)
            if ContinuousClock.now - reading < .seconds(20) {
                #expect(stillServed.json["session"] != nil)
            }
            try await Task.sleep(until: cached + .seconds(20) + .milliseconds(500), clock: .continuous)
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: headers).text == "null")
        }
    }

    @Test func sessionCacheCanBeTurnedOff() async throws {
        let app = try await AuthTestApp.make(overrides: ["SESSION_CACHE_SECONDS": "0"])
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).json[
                    "session"] != nil)
            try await app.sql { sql in try await sql.query(#"DELETE FROM "session""#) }
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text
                    == "null")
        }
        #expect(throws: ConfigurationError.self) {
            try AuthConfig(
                TestConfig.environment(
                    database: app.database, redis: try TestServers.redisURL(),
                    overrides: ["SESSION_CACHE_SECONDS": "-1"]))
        }
    }

    @Test func okAnswers() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let response = try await client.execute(uri: "/api/auth/ok", method: .get)
            #expect(response.status == .ok)
            #expect(response.text == #"{"ok":true}"#)
            #expect(response.headers[.rateLimitLimit] == "100")
        }
    }
}

@Suite struct SessionCookieTests {
    let cookie = SessionCookie(secret: String(repeating: "s", count: 32), secure: true, policy: SessionPolicy())

    @Test func valuesRoundTripThroughEncodeURIComponent() {
        let token = "abcDEF123"
        let value = cookie.value(for: token)
        #expect(value.contains("%"))  // the base64 signature's "=" / "+" / "/" are escaped
        #expect(cookie.token(fromCookieValue: value) == token)
        #expect(cookie.token(fromCookieValue: value.removingPercentEncoding!) == token)
    }

    @Test func percentDecodingRejectsMalformedEscapes() {
        #expect(SessionCookie.percentDecode("a%3Db%2fc") == "a=b/c")
        #expect(SessionCookie.percentDecode("plain") == "plain")
        #expect(SessionCookie.percentDecode("%zz") == nil)
        #expect(SessionCookie.percentDecode("%3") == nil)
        #expect(SessionCookie.percentDecode("%FF") == nil)
        #expect(cookie.token(fromCookieValue: "abc.%zz") == nil)
    }

    /// The daily sweep deletes sessions that expired and nothing else, in batches (2 here, so
    /// several are needed).
    @Test func theSweepDeletesExpiredSessionsOnly() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let left = try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                #"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES ('u1', 'T', 't@example.com', true, now(), now())"#
            )
            // (id, expiry relative to now in seconds)
            for (id, offset) in [
                ("gone-1", -86_400), ("gone-2", -60), ("gone-3", -1), ("kept-1", 60), ("kept-2", 86_400),
            ] {
                try await sql.query(
                    """
                    INSERT INTO "session" ("id", "token", "userId", "expiresAt")
                    VALUES (\(id), \("token-" + id), 'u1', now() + make_interval(secs => \(Double(offset))))
                    """)
            }
            let sessions = SessionRepository(postgres: Postgres(sql), logger: Logger(label: "session-sweep-test"))
            #expect(try await sessions.deleteExpired(batch: 2) == 3)
            #expect(try await sessions.deleteExpired(batch: 2) == 0)
            var ids = [String]()
            for try await id in try await sql.query(#"SELECT "id" FROM "session" ORDER BY "id""#).decode(String.self) {
                ids.append(id)
            }
            return ids
        }
        #expect(left == ["kept-1", "kept-2"])
    }
}
