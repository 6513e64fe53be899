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
        let response = try await client.execute(
            uri: "/api/auth/list-sessions", method: .get, headers: [.cookie: cookie])
        return (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [[String: Any]]
            ?? []
    }

    @Test func routesNeedASession() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            #expect(try await client.execute(uri: "/api/auth/list-sessions", method: .get).status == .unauthorized)
            for path in [
                "/api/auth/revoke-session", "/api/auth/revoke-sessions", "/api/auth/revoke-other-sessions",
                "/api/auth/change-password",
            ] {
                let response = try await client.post(
                    path, #"{"token":"x","newPassword":"abcdefgh","currentPassword":"abcdefgh"}"#)
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
            let foreign = try await client.post(
                "/api/auth/revoke-session", #"{"token":"\#(secondToken)"}"#,
                headers: [.cookie: other, .origin: trustedOrigin])
            // Answered as any revocation is, so it confirms nothing about the token.
            #expect(foreign.status == .ok)
            #expect(foreign.json["status"] as? Bool == true)
            #expect(try await sessionList(client, first).count == 3)

            // Read (and so cached) before it is revoked: revocation must not leave it usable.
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: second]).json[
                    "session"] != nil)
            let revoked = try await client.post(
                "/api/auth/revoke-session", #"{"token":"\#(secondToken)"}"#,
                headers: [.cookie: first, .origin: trustedOrigin])
            #expect(revoked.status == .ok)
            #expect(revoked.json["status"] as? Bool == true)
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: second]).text
                    == "null")
            #expect(try await sessionList(client, first).count == 2)

            let others = try await client.post(
                "/api/auth/revoke-other-sessions", "{}", headers: [.cookie: first, .origin: trustedOrigin])
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
                #expect(
                    try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie])
                        .json["session"] != nil)
            }

            let forged = try await client.post(
                "/api/auth/revoke-sessions", "{}", headers: [.cookie: first, .origin: "https://evil.example"])
            #expect(forged.status == .forbidden)
            #expect(try await sessionList(client, first).count == 2)

            let revoked = try await client.post(
                "/api/auth/revoke-sessions", "{}", headers: [.cookie: first, .origin: trustedOrigin])
            #expect(revoked.status == .ok)
            #expect(revoked.json["status"] as? Bool == true)
            let cleared = revoked.headers[values: .setCookie]
            #expect(cleared.contains { $0.hasPrefix("\(cookieName)=;") && $0.contains("Max-Age=0") })
            for cookie in [first, second] {
                #expect(
                    try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie])
                        .text == "null")
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
                (
                    "/api/auth/change-password",
                    #"{"currentPassword":"correct-horse-9","newPassword":"hijacked-password","revokeOtherSessions":true}"#
                ),
                ("/api/auth/sign-in/social", #"{"provider":"github"}"#),
            ]
            for (path, body) in writes {
                let foreign = try await client.post(
                    path, body, headers: [.cookie: first, .origin: "https://evil.example"])
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
            let wrong = try await client.post(
                "/api/auth/change-password", #"{"currentPassword":"not-it-at-all","newPassword":"new-password-1"}"#,
                headers: headers)
            #expect(wrong.status == .badRequest)
            #expect(wrong.errorCode == "INVALID_PASSWORD")
            let short = try await client.post(
                "/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"short"}"#,
                headers: headers)
            #expect(short.errorCode == "PASSWORD_TOO_SHORT")
            #expect(try await client.signIn().status == .ok)

            let changed = try await client.post(
                "/api/auth/change-password", #"{"currentPassword":"correct-horse-9","newPassword":"new-password-1"}"#,
                headers: headers)
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
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: other]).json[
                    "session"] != nil)
            let response = try await client.post(
                "/api/auth/change-password",
                #"{"currentPassword":"correct-horse-9","newPassword":"new-password-2","revokeOtherSessions":true}"#,
                headers: [.cookie: cookie, .origin: trustedOrigin])
            #expect(response.status == .ok)
            let token = try #require(response.json["token"] as? String)
            let fresh = try #require(response.cookiePair(cookieName))
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: other]).text
                    == "null")
            #expect(
                try await client.execute(uri: "/api/auth/get-session", method: .get, headers: [.cookie: cookie]).text
                    == "null")
            let current = try await client.execute(
                uri: "/api/auth/get-session", method: .get, headers: [.cookie: fresh])
            #expect((current.json["session"] as? [String: Any])?["token"] as? String == token)
        }
    }

    /// A stolen session is not a password oracle: wrong current passwords are counted per user,
    /// from any IP, and the 11th within the window is refused even when it is right.
    @Test func tenWrongCurrentPasswordsLockChangePasswordForThatUserFromAnyIP() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            func change(_ current: String, _ new: String, ip: String) async throws -> TestResponse {
                try await client.post(
                    "/api/auth/change-password", #"{"currentPassword":"\#(current)","newPassword":"\#(new)"}"#,
                    headers: [.cookie: cookie, .origin: trustedOrigin, .xForwardedFor: ip])
            }
            for attempt in 0..<5 {
                #expect(
                    try await change("guess-\(attempt)-wrong", "taken-over-1", ip: "198.51.100.\(attempt)").errorCode
                        == "INVALID_PASSWORD")
            }
            // The right one still works before the lock, and clears the count.
            #expect(try await change("correct-horse-9", "new-password-1", ip: "198.51.100.5").status == .ok)
            for attempt in 0..<10 {
                let wrong = try await change("guess-\(attempt)-again", "taken-over-2", ip: "203.0.113.\(attempt)")
                #expect(wrong.status == .badRequest)
                #expect(wrong.errorCode == "INVALID_PASSWORD")
            }
            for ip in ["203.0.113.200", "192.0.2.7"] {
                let locked = try await change("new-password-1", "taken-over-3", ip: ip)
                #expect(locked.status == .tooManyRequests)
                #expect(locked.errorCode == "TOO_MANY_REQUESTS")
                let retryAfter = try #require(Int(locked.headers[.retryAfter] ?? ""))
                #expect((800...900).contains(retryAfter))
                #expect(locked.headers[values: .rateLimitLimit] == ["10"])
                #expect(locked.headers[values: .rateLimitRemaining] == ["0"])
            }
            // Nothing changed while locked; another user is not affected.
            #expect(try await client.signIn(password: "new-password-1").status == .ok)
            #expect(try await client.signIn(password: "taken-over-3").status == .unauthorized)
            let other = try #require(try await client.signUp(email: "eve@example.com").cookiePair(cookieName))
            let theirs = try await client.post(
                "/api/auth/change-password",
                #"{"currentPassword":"correct-horse-9","newPassword":"eves-new-password"}"#,
                headers: [.cookie: other, .origin: trustedOrigin, .xForwardedFor: "203.0.113.201"])
            #expect(theirs.status == .ok)
        }
    }

    /// `change-password` is limited per IP like sign-in: 10 a minute, counted before the body is read.
    @Test func changePasswordIsLimitedToTenPerMinutePerIP() async throws {
        // Ten as by default, in an hour's window: the eleven requests never straddle its end
        // on a loaded machine.
        let app = try await AuthTestApp.make { config in config.changePasswordLimit.window = .seconds(3600) }
        try await app.test { client in
            let cookie = try #require(try await client.signUp().cookiePair(cookieName))
            func attempt(ip: String) async throws -> TestResponse {
                try await client.post(
                    "/api/auth/change-password", "{}",
                    headers: [.cookie: cookie, .origin: trustedOrigin, .xForwardedFor: ip])
            }
            for _ in 0..<10 { #expect(try await attempt(ip: "198.51.100.40").errorCode == "VALIDATION_ERROR") }
            let limited = try await attempt(ip: "198.51.100.40")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try await attempt(ip: "198.51.100.41").errorCode == "VALIDATION_ERROR")
        }
    }
}
