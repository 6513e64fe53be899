import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import AuthService

/// list-sessions, revoke-session, revoke-sessions, revoke-other-sessions and change-password.
@Suite struct AccountTests {
    let cookieName = "__Secure-better-auth.session_token"

    func sessionList(_ client: any TestClientProtocol, _ cookie: String) async throws -> [[String: Any]] {
        let response = try await client.execute(uri: "/api/auth/list-sessions", method: .get, headers: [.cookie: cookie])
        return (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [[String: Any]] ?? []
    }

    @Test func routesNeedASession() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            #expect(try await client.execute(uri: "/api/auth/list-sessions", method: .get).status == .unauthorized)
            for path in ["/api/auth/revoke-session", "/api/auth/revoke-sessions", "/api/auth/revoke-other-sessions", "/api/auth/change-password"] {
                let response = try await client.post(path, #"{"token":"x","newPassword":"abcdefgh","currentPassword":"abcdefgh"}"#)
                #expect(response.status == .unauthorized)
                #expect(response.errorCode == "UNAUTHORIZED")
            }
        }
    }

    @Test func listAndRevokeSessions() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let first = try #require(try await client.signUp().cookiePair(cookieName))
            let secondSignIn = try await client.signIn()
            let second = try #require(secondSignIn.cookiePair(cookieName))
            let secondToken = try #require(secondSignIn.json["token"] as? String)
            _ = try await client.signIn()

            #expect(try await sessionList(client, first).count == 3)
            // Someone else's token cannot be revoked.
            let other = try #require(try await client.signUp(email: "eve@example.com").cookiePair(cookieName))
            let foreign = try await client.post("/api/auth/revoke-session", #"{"token":"\#(secondToken)"}"#, headers: [.cookie: other, .origin: trustedOrigin])
            #expect(foreign.status == .badRequest)

            // Read (and so cached) before it is revoked: revocation must not leave it usable.
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: second]).json["session"] != nil)
            let revoked = try await client.post("/api/auth/revoke-session", #"{"token":"\#(secondToken)"}"#, headers: [.cookie: first, .origin: trustedOrigin])
            #expect(revoked.status == .ok)
            #expect(revoked.json["status"] as? Bool == true)
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: second]).text == "null")
            #expect(try await sessionList(client, first).count == 2)

            let others = try await client.post("/api/auth/revoke-other-sessions", "{}", headers: [.cookie: first, .origin: trustedOrigin])
            #expect(others.status == .ok)
            let remaining = try await sessionList(client, first)
            #expect(remaining.count == 1)
            // Eve's session is untouched.
            #expect(try await sessionList(client, other).count == 1)
        }
    }

    /// Better Auth client's `revokeSessions()`: every session of the caller ends, this one too;
    /// other users' sessions stay; a cookie-bearing call from an untrusted origin changes nothing.
    @Test func revokeSessionsEndsEveryOneOfTheCallers() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let first = try #require(try await client.signUp().cookiePair(cookieName))
            let second = try #require(try await client.signIn().cookiePair(cookieName))
            let eve = try #require(try await client.signUp(email: "eve@example.com").cookiePair(cookieName))
            // Both read (and so cached) first.
            for cookie in [first, second] {
                #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).json["session"] != nil)
            }

            let forged = try await client.post("/api/auth/revoke-sessions", "{}", headers: [.cookie: first, .origin: "https://evil.example"])
            #expect(forged.status == .forbidden)
            #expect(try await sessionList(client, first).count == 2)

            let revoked = try await client.post("/api/auth/revoke-sessions", "{}", headers: [.cookie: first, .origin: trustedOrigin])
            #expect(revoked.status == .ok)
            #expect(revoked.json["status"] as? Bool == true)
            let cleared = revoked.headers[values: .setCookie]
            #expect(cleared.contains { $0.hasPrefix("\(cookieName)=;") && $0.contains("Max-Age=0") })
            for cookie in [first, second] {
                #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text == "null")
            }
            #expect(try await sessionList(client, eve).count == 1)
        }
    }

    /// CSRF: every cookie-bearing write from an untrusted (or no) origin is refused before it
    /// changes anything.
    @Test func cookieBearingWritesNeedATrustedOrigin() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let first = try #require(try await client.signUp().cookiePair(cookieName))
            let secondSignIn = try await client.signIn()
            let secondToken = try #require(secondSignIn.json["token"] as? String)
            let writes: [(String, String)] = [
                ("/api/auth/revoke-session", #"{"token":"\#(secondToken)"}"#), ("/api/auth/revoke-sessions", "{}"),
                ("/api/auth/revoke-other-sessions", "{}"), ("/api/auth/sign-out", "{}"),
                ("/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"hijacked-password","revokeOtherSessions":true}"#),
                ("/api/auth/sign-in/social", #"{"provider":"github"}"#),
            ]
            for (path, body) in writes {
                let foreign = try await client.post(path, body, headers: [.cookie: first, .origin: "https://evil.example"])
                #expect(foreign.status == .forbidden, "\(path)")
                #expect(foreign.errorCode == "INVALID_ORIGIN", "\(path)")
                let missing = try await client.post(path, body, headers: [.cookie: first])
                #expect(missing.errorCode == "MISSING_OR_NULL_ORIGIN", "\(path)")
                let null = try await client.post(path, body, headers: [.cookie: first, .origin: "null"])
                #expect(null.errorCode == "MISSING_OR_NULL_ORIGIN", "\(path)")
            }
            // Nothing changed: both sessions live, the password is the old one.
            #expect(try await sessionList(client, first).count == 2)
            #expect(try await client.signIn(password: "correct-horse-9").status == .ok)
            #expect(try await client.signIn(password: "hijacked-password").status == .unauthorized)
        }
    }

    @Test func changePasswordChecksTheCurrentOne() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let headers: HTTPFields = [.cookie: cookie, .origin: trustedOrigin]
            let wrong = try await client.post("/api/auth/change-password", #"{"currentPassword":"not-it-at-all","newPassword":"new-password-1"}"#, headers: headers)
            #expect(wrong.status == .badRequest)
            #expect(wrong.errorCode == "INVALID_PASSWORD")
            let short = try await client.post("/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"short"}"#, headers: headers)
            #expect(short.errorCode == "PASSWORD_TOO_SHORT")
            #expect(try await client.signIn().status == .ok)

            let changed = try await client.post("/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"new-password-1"}"#, headers: headers)
            #expect(changed.status == .ok)
            #expect(changed.json["token"] is NSNull)
            #expect((changed.json["user"] as? [String: Any])?["email"] as? String == "ada@example.com")
            #expect(try await client.signIn().status == .unauthorized)
            #expect(try await client.signIn(password: "new-password-1").status == .ok)
            // Other sessions were kept.
            #expect(try await sessionList(client, cookie).count == 3)
        }
    }

    @Test func changePasswordCanEndEveryOtherSession() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            let other = try #require(try await client.signIn().cookiePair(cookieName))
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: other]).json["session"] != nil)
            let response = try await client.post(
                "/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"new-password-2","revokeOtherSessions":true}"#,
                headers: [.cookie: cookie, .origin: trustedOrigin])
            #expect(response.status == .ok)
            let token = try #require(response.json["token"] as? String)
            let fresh = try #require(response.cookiePair(cookieName))
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: other]).text == "null")
            #expect(try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text == "null")
            let current = try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: fresh])
            #expect((current.json["session"] as? [String: Any])?["token"] as? String == token)
        }
    }
}
