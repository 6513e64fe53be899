import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import AuthService

/// "Sign in with GitHub" against a fake GitHub, over real HTTP, with the attacks.
@Suite struct GitHubSignInTests {
    let cookieName = "__Secure-better-auth.session_token"
    let stateCookie = "__Secure-better-auth.oauth_state"

    struct Started {
        let state: String
        let authorizeURL: URLComponents
        let cookie: String
    }

    func withGitHub(
        _ account: FakeGitHub.Account = .init(
            id: 4242, login: "octocat", name: "Mona", emails: [.init("mona@example.com")]),
        _ body: @Sendable (FakeGitHub, AuthTestApp) async throws -> Void
    ) async throws {
        let github = FakeGitHub(account: account)
        try await withFakeServer(github.router) { base in
            let app = try await AuthTestApp.make(overrides: [
                "GITHUB_CLIENT_ID": github.clientID, "GITHUB_CLIENT_SECRET": github.clientSecret,
                "GITHUB_URL": base, "GITHUB_API_URL": base,
            ])
            try await body(github, app)
        }
    }

    func start(_ client: any TestClientProtocol, _ extra: String = #","callbackURL":"/dashboard""#) async throws
        -> Started
    {
        let response = try await client.post("/api/auth/sign-in/social", #"{"provider":"github"\#(extra)}"#)
        #expect(response.status == .ok)
        #expect(response.json["redirect"] as? Bool == true)
        let url = try #require(response.json["url"] as? String)
        #expect(response.headers[.location] == url)
        let components = try #require(URLComponents(string: url))
        let state = try #require(components.queryItems?.first { $0.name == "state" }?.value)
        return Started(state: state, authorizeURL: components, cookie: try #require(response.cookiePair(stateCookie)))
    }

    /// The user approves at GitHub: the fake answers with a redirect carrying code and state.
    func approve(_ started: Started) async throws -> URLComponents {
        let port = try #require(started.authorizeURL.port)
        let path = started.authorizeURL.path + "?" + (started.authorizeURL.percentEncodedQuery ?? "")
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get(path) }
        #expect(response.status == .found)
        return try #require(URLComponents(string: response.headers[.location] ?? ""))
    }

    func callback(_ client: any TestClientProtocol, _ redirect: URLComponents, cookie: String?) async throws
        -> TestResponse
    {
        var headers = HTTPFields()
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(
            uri: "/api/auth/callback/github?" + (redirect.percentEncodedQuery ?? ""), method: .get, headers: headers)
    }

    @Test func signsInANewUserAndRedirectsToTheCallbackURL() async throws {
        try await withGitHub { github, app in
            try await app.test { client in
                let started = try await start(client, #","callbackURL":"/dashboard","newUserCallbackURL":"/welcome""#)
                let query = Dictionary(
                    uniqueKeysWithValues: (started.authorizeURL.queryItems ?? []).map { ($0.name, $0.value ?? "") })
                #expect(query["client_id"] == github.clientID)
                #expect(query["scope"] == "read:user user:email")
                #expect(query["code_challenge_method"] == "S256")
                #expect(query["redirect_uri"] == "https://connectors.test/api/auth/callback/github")
                #expect(query["code_challenge"]?.count == 43)

                let redirect = try await approve(started)
                let response = try await callback(client, redirect, cookie: started.cookie)
                #expect(response.status == .found)
                #expect(response.headers[.location] == "https://connectors.test/welcome")
                let session = try #require(response.cookiePair(cookieName))
                let me = try await client.execute(
                    uri: "/api/auth/get-session", method: .get, headers: [.cookie: session])
                let user = try #require(me.json["user"] as? [String: Any])
                #expect(user["email"] as? String == "mona@example.com")
                #expect(user["name"] as? String == "Mona")
                #expect(user["emailVerified"] as? Bool == true)
                // No password to change: said so, and not counted as a wrong one.
                let change = try await client.post(
                    "/api/auth/change-password",
                    #"{"currentPassword":"anything-at-all","newPassword":"new-password-1"}"#,
                    headers: [.cookie: session, .origin: trustedOrigin])
                #expect(change.status == .badRequest)
                #expect(change.errorCode == "CREDENTIAL_ACCOUNT_NOT_FOUND")
            }
            let accounts = try await app.sql { sql in
                var rows = [String]()
                for try await (provider, account) in try await sql.query(
                    #"SELECT "providerId", "accountId" FROM "account""#
                ).decode((String, String).self) {
                    rows.append("\(provider):\(account)")
                }
                return rows
            }
            #expect(accounts == ["github:4242"])
        }
    }

    @Test func linksToTheExistingUserWithTheSameVerifiedEmail() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                let existing = try await client.signUp(email: "mona@example.com")
                let userID = try #require((existing.json["user"] as? [String: Any])?["id"] as? String)
                // The owner has proved the address (as email verification would record it).
                try await app.sql { sql in
                    try await sql.query(#"UPDATE "user" SET "emailVerified" = true WHERE id = \#(userID)"#)
                }
                let started = try await start(client)
                let response = try await callback(client, try await approve(started), cookie: started.cookie)
                #expect(response.headers[.location] == "https://connectors.test/dashboard")
                let session = try #require(response.cookiePair(cookieName))
                let me = try await client.execute(
                    uri: "/api/auth/get-session", method: .get, headers: [.cookie: session])
                #expect((me.json["user"] as? [String: Any])?["id"] as? String == userID)
                #expect((me.json["user"] as? [String: Any])?["emailVerified"] as? Bool == true)
                // The session records where it came from.
                #expect(((me.json["session"] as? [String: Any])?["ipAddress"] as? String)?.isEmpty == false)
                // Signing in again finds the linked account.
                let again = try await start(client)
                let second = try await callback(client, try await approve(again), cookie: again.cookie)
                let secondSession = try #require(second.cookiePair(cookieName))
                let me2 = try await client.execute(
                    uri: "/api/auth/get-session", method: .get, headers: [.cookie: secondSession])
                #expect((me2.json["user"] as? [String: Any])?["id"] as? String == userID)
            }
        }
    }

    /// No email at GitHub, or no way to read them: an error redirect, and no user or session.
    @Test func missingOrUnreadableEmailsEndAtTheErrorURL() async throws {
        try await withGitHub(.init(id: 8, login: "noemail", name: nil, emails: [])) { github, app in
            try await app.test { client in
                let started = try await start(client, #","errorCallbackURL":"/signin-failed""#)
                let response = try await callback(client, try await approve(started), cookie: started.cookie)
                #expect(response.headers[.location] == "https://connectors.test/signin-failed?error=email_not_found")
                #expect(response.cookiePair(cookieName) == nil)

                github.emailsUnavailable.set(true)
                github.account.set(.init(id: 9, login: "private", name: nil, emails: [.init("private@example.com")]))
                let again = try await start(client)
                let refused = try await callback(client, try await approve(again), cookie: again.cookie)
                #expect(refused.headers[.location] == "https://connectors.test/error?error=unable_to_get_user_info")
                #expect(refused.cookiePair(cookieName) == nil)
            }
            let users = try await app.sql { sql in
                var count = -1
                for try await value in try await sql.query(#"SELECT count(*)::int FROM "user""#).decode(Int.self) {
                    count = value
                }
                return count
            }
            #expect(users == 0)
        }
    }

    /// An address GitHub has not verified is not the person's: it neither links nor creates.
    @Test func neverLinksOrCreatesOnAnEmailGitHubHasNotVerified() async throws {
        try await withGitHub(
            .init(id: 7, login: "mallory", name: nil, emails: [.init("mona@example.com", verified: false)])
        ) { github, app in
            try await app.test { client in
                let started = try await start(client)
                let response = try await callback(client, try await approve(started), cookie: started.cookie)
                #expect(response.headers[.location] == "https://connectors.test/error?error=email_not_found")
                #expect(response.cookiePair(cookieName) == nil)

                _ = try await client.signUp(email: "mona@example.com")
                let again = try await start(client)
                let refused = try await callback(client, try await approve(again), cookie: again.cookie)
                #expect(refused.headers[.location] == "https://connectors.test/error?error=email_not_found")
                #expect(refused.cookiePair(cookieName) == nil)
            }
            let rows = try await app.sql { sql in
                var rows = [String]()
                let query: PostgresQuery =
                    #"SELECT u.email, a."providerId" FROM "user" u JOIN "account" a ON a."userId" = u.id"#
                for try await (email, provider) in try await sql.query(query).decode((String, String).self) {
                    rows.append("\(email):\(provider)")
                }
                return rows
            }
            #expect(rows == ["mona@example.com:credential"])
        }
    }

    /// Pre-account takeover: someone signs up with the victim's address and a password of their
    /// own; the victim's later GitHub sign-in (verified at GitHub) must not link into that
    /// account, or the squatter's password would open it.
    @Test func aGitHubSignInDoesNotLinkIntoAnAccountWhoseEmailIsUnverified() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                let squatter = try await client.signUp(email: "mona@example.com", password: "squatters-password")
                let userID = try #require((squatter.json["user"] as? [String: Any])?["id"] as? String)
                let started = try await start(client)
                let response = try await callback(client, try await approve(started), cookie: started.cookie)
                #expect(response.status == .found)
                #expect(response.headers[.location] == "https://connectors.test/error?error=account_not_linked")
                #expect(response.cookiePair(cookieName) == nil)
                // The squatter's account is unchanged: still unverified, still only a password.
                let state = try await app.sql { sql in
                    var verified: [Bool] = []
                    for try await value in try await sql.query(
                        #"SELECT "emailVerified" FROM "user" WHERE id = \#(userID)"#
                    ).decode(Bool.self) {
                        verified.append(value)
                    }
                    var providers: [String] = []
                    for try await value in try await sql.query(
                        #"SELECT "providerId" FROM "account" ORDER BY "providerId""#
                    ).decode(String.self) {
                        providers.append(value)
                    }
                    var users = -1
                    for try await value in try await sql.query(#"SELECT count(*)::int FROM "user""#).decode(Int.self) {
                        users = value
                    }
                    var sessions = -1
                    for try await value in try await sql.query(#"SELECT count(*)::int FROM "session""#).decode(Int.self)
                    { sessions = value }
                    return (verified, providers, users, sessions)
                }
                #expect(state.0 == [false])
                #expect(state.1 == ["credential"])
                #expect(state.2 == 1)
                // Only the squatter's own sign-up session; none for the GitHub side.
                #expect(state.3 == 1)
            }
        }
    }

    @Test func aReplayedCallbackIsRefused() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                let started = try await start(client, #","errorCallbackURL":"/sign-in""#)
                let redirect = try await approve(started)
                #expect(try await callback(client, redirect, cookie: started.cookie).cookiePair(cookieName) != nil)
                let replay = try await callback(client, redirect, cookie: started.cookie)
                #expect(replay.status == .found)
                #expect(replay.headers[.location] == "https://connectors.test/error?error=state_mismatch")
                #expect(replay.cookiePair(cookieName) == nil)
            }
        }
    }

    @Test func aStateFromAnotherBrowserIsRefused() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                let victim = try await start(client, #","errorCallbackURL":"/oops""#)
                let attacker = try await start(client)
                // The victim's callback, delivered to the attacker's browser (its state cookie).
                let response = try await callback(client, try await approve(victim), cookie: attacker.cookie)
                #expect(response.headers[.location] == "https://connectors.test/oops?error=state_mismatch")
                #expect(response.cookiePair(cookieName) == nil)
                // No cookie at all is refused too.
                let bare = try await callback(client, try await approve(attacker), cookie: nil)
                #expect(bare.headers[.location]?.hasSuffix("error=state_mismatch") == true)
            }
        }
    }

    @Test func aCodeIssuedForAnotherFlowFailsThePKCECheck() async throws {
        try await withGitHub { github, app in
            try await app.test { client in
                let first = try await start(client)
                let second = try await start(client)
                // A code GitHub issued against the first flow's challenge, with the second flow's state.
                var redirect = try await approve(first)
                redirect.queryItems = redirect.queryItems?.map {
                    $0.name == "state" ? URLQueryItem(name: "state", value: second.state) : $0
                }
                let response = try await callback(client, redirect, cookie: second.cookie)
                #expect(response.headers[.location] == "https://connectors.test/error?error=invalid_code")
                #expect(github.refusals.get() == ["bad_verification_code"])
            }
        }
    }

    @Test func startRefusesUntrustedCallbacksAndUnknownProviders() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                for field in ["callbackURL", "errorCallbackURL", "newUserCallbackURL"] {
                    let response = try await client.post(
                        "/api/auth/sign-in/social", #"{"provider":"github","\#(field)":"https://evil.example/"}"#)
                    #expect(response.status == .forbidden)
                    #expect(response.errorCode == "INVALID_CALLBACK_URL")
                }
                let protocolRelative = try await client.post(
                    "/api/auth/sign-in/social", #"{"provider":"github","callbackURL":"//evil.example"}"#)
                #expect(protocolRelative.errorCode == "INVALID_CALLBACK_URL")
                // A browser reads the backslash as a slash (host evil.example); Foundation sees user info.
                let backslash = try await client.post(
                    "/api/auth/sign-in/social",
                    #"{"provider":"github","callbackURL":"https://evil.example\\@connectors.test/"}"#)
                #expect(backslash.errorCode == "INVALID_CALLBACK_URL")
                let tab = try await client.post(
                    "/api/auth/sign-in/social", #"{"provider":"github","errorCallbackURL":"/\t/evil.example"}"#)
                #expect(tab.errorCode == "INVALID_CALLBACK_URL")
                let trusted = try await client.post(
                    "/api/auth/sign-in/social",
                    #"{"provider":"github","callbackURL":"https://app.connectors.test/home"}"#)
                #expect(trusted.status == .ok)
                let unknown = try await client.post("/api/auth/sign-in/social", #"{"provider":"gitlab"}"#)
                #expect(unknown.status == .notFound)
                #expect(unknown.errorCode == "PROVIDER_NOT_FOUND")
            }
        }
    }

    @Test func githubNotConfiguredIsProviderNotFound() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let response = try await client.post("/api/auth/sign-in/social", #"{"provider":"github"}"#)
            #expect(response.status == .notFound)
            #expect(response.errorCode == "PROVIDER_NOT_FOUND")
            // The message says how to turn it on.
            #expect((response.json["message"] as? String)?.contains("GITHUB_CLIENT_ID") == true)
        }
    }

    @Test func aDeniedAuthorizationRedirectsWithTheProvidersError() async throws {
        try await withGitHub { _, app in
            try await app.test { client in
                let started = try await start(client)
                let response = try await client.execute(
                    uri: "/api/auth/callback/github?error=access_denied&state=\(started.state)", method: .get,
                    headers: [.cookie: started.cookie])
                #expect(response.headers[.location] == "https://connectors.test/error?error=access_denied")
            }
        }
    }
}
