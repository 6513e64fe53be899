import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// Connecting Slack (OAuth v2 install, or one configured workspace) and GitHub (App
/// installation), end to end against fakes that check what they receive.
@Suite struct SlackAndGitHubTests {
    func withSlack<T: Sendable>(
        botToken: Bool = false,
        _ body: @Sendable (ConnectorsTestApp, Browser, FakeSlack, TestTokenIssuer) async throws -> T
    ) async throws -> T {
        let slack = FakeSlack()
        return try await withProviderFake(
            slack.router,
            overrides: { url in
                var variables = [
                    "SLACK_API_URL": url + "/api", "SLACK_CLIENT_ID": slack.clientID,
                    "SLACK_CLIENT_SECRET": slack.clientSecret,
                ]
                if botToken {
                    variables = [
                        "SLACK_API_URL": url + "/api", "SLACK_BOT_TOKEN": slack.configuredBotToken,
                        "SLACK_BOT_USERS": "user-1@example.com, Ops-Lead@Example.com",
                    ]
                }
                return variables
            }
        ) { app, client, issuer, url in try await body(app, Browser(client: client, fakeURL: url), slack, issuer) }
    }

    func withGitHub<T: Sendable>(
        appOAuth: Bool = true,
        _ body: @Sendable (ConnectorsTestApp, Browser, FakeGitHubApp, TestTokenIssuer) async throws -> T
    ) async throws -> T {
        try await withGitHubApp(appOAuth: appOAuth, body)
    }

    @Test func slackInstallConnectsTheWorkspaceAndDeleteRevokesTheBotToken() async throws {
        try await withSlack { app, browser, slack, issuer in
            let bearer = issuer.token(sub: "user-1")
            let url = try await browser.start("slack", bearer: bearer).url
            #expect(url.hasPrefix(browser.fakeURL + "/oauth/v2/authorize?"))
            #expect(queryItems(url)["redirect_uri"] == "https://connectors.test/oauth/slack/callback")
            #expect(queryItems(url)["code_challenge"] == nil)

            let connection = try await browser.connectAndLink("slack", bearer: bearer)
            #expect(connection["accountId"] as? String == "T0ACME")
            #expect(connection["accountName"] as? String == "Acme Workspace")
            // Who installed (`authed_user`): the Slack user this connection acts as.
            #expect(connection["providerUserId"] as? String == "U0HUMAN")
            #expect(connection["scopes"] as? [String] == ["app_mentions:read", "chat:write", "channels:history"])
            #expect(connection["expiresAt"] is NSNull)
            let issued = try #require(slack.issued.get().first)
            let dump = try await app.databaseDump()
            #expect(!dump.contains(issued))

            let id = try #require(connection["id"] as? String)
            let deleted = try await browser.client.execute(
                uri: "/oauth/connections/\(id)", method: .delete, headers: [.authorization: "Bearer \(bearer)"])
            #expect(deleted.status == .noContent)
            #expect(slack.revoked.get() == [issued])
        }
    }

    /// Slack has one bot token per workspace install. Two users connected to one workspace
    /// hold the same token: the first to disconnect must not revoke it under the other.
    @Test func aSharedBotTokenIsRevokedOnlyWithTheLastConnection() async throws {
        try await withSlack { _, browser, slack, issuer in
            let first = try await browser.connectAndLink("slack", bearer: issuer.token(sub: "user-1"))
            let second = try await browser.connectAndLink("slack", bearer: issuer.token(sub: "user-2"))
            #expect(slack.issued.get().count == 1)
            let token = try #require(slack.issued.get().first)
            for (connection, user, revoked) in [(first, "user-1", [String]()), (second, "user-2", [token])] {
                let id = try #require(connection["id"] as? String)
                let deleted = try await browser.client.execute(
                    uri: "/oauth/connections/\(id)", method: .delete,
                    headers: [.authorization: "Bearer \(issuer.token(sub: user))"])
                #expect(deleted.status == .noContent)
                #expect(slack.revoked.get() == revoked, "after \(user)")
            }
        }
    }

    @Test func slackTokenRotationRefreshesExpiringBotTokens() async throws {
        try await withSlack { app, browser, slack, issuer in
            slack.rotation.set(true)
            let connection = try await browser.connectAndLink("slack", bearer: issuer.token(sub: "user-1"))
            #expect(connection["expiresAt"] is String)
            let id = try #require(connection["id"] as? String)
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '1 minute'"#)
            }
            let token = try await app.withTokens { try await $0.accessToken(connectionId: id) }
            #expect(slack.refreshes.get() == 1)
            #expect(slack.issued.get().last(where: { $0.hasPrefix("xoxe.xoxb-") }) == token)
        }
    }

    @Test func aRefusedSlackCodeStoresNothing() async throws {
        try await withSlack { app, browser, slack, issuer in
            let started = try await browser.start("slack")
            let landing = try await browser.callback(
                "/oauth/slack/callback?code=never-issued&state=\(started.state)", cookie: started.cookie)
            #expect(queryItems(try #require(landing.headers[.location]))["error"] == "token_exchange_failed")
            #expect(slack.refusals.get() == ["invalid_code"])
            #expect(try await app.connectionCount() == 0)
        }
    }

    /// The operator's bot token reads every channel the bot is in and posts as the company:
    /// only users named in SLACK_BOT_USERS, by a verified email, may connect it.
    @Test func singleWorkspaceModeAdmitsOnlyTheNamedUsersWithVerifiedEmails() async throws {
        try await withSlack(botToken: true) { app, browser, slack, issuer in
            let outsider = issuer.token(sub: "user-2")
            let unverified = issuer.token(
                sub: "user-3", claims: ["email": "ops-lead@example.com", "emailVerified": false])
            for bearer in [outsider, unverified, nil] {
                var headers = HTTPFields()
                if let bearer { headers[.authorization] = "Bearer \(bearer)" }
                let refused = try await browser.client.execute(uri: "/oauth/slack", method: .get, headers: headers)
                #expect(refused.status == .forbidden)
                #expect(refused.errorCode == "SLACK_BOT_RESTRICTED")
            }
            // A listed user connects; the list matches emails whatever their case.
            try await app.insertUser("user-4")
            let listed = issuer.token(sub: "user-4", claims: ["email": "ops-lead@example.com"])
            #expect(try await browser.connectAndLink("slack", bearer: listed)["accountId"] as? String == "T0ACME")

            // The link step refuses too: an outsider presenting a listed user's link code.
            let code = try #require(
                queryItems(try await browser.connect("slack", bearer: issuer.token(sub: "user-1")))["link"])
            let stolen = try await browser.link("slack", code: code, bearer: outsider)
            #expect(stolen.status == .forbidden)
            #expect(stolen.errorCode == "SLACK_BOT_RESTRICTED")
            let owners = try await app.sql { sql in
                var owners = [String]()
                for try await owner in try await sql.query(#"SELECT "userId" FROM "connection" ORDER BY "userId""#)
                    .decode(String.self)
                {
                    owners.append(owner)
                }
                return owners
            }
            #expect(owners == ["user-4"])
            // The refusal used nothing up: the code's owner still links with it.
            #expect(try await browser.link("slack", code: code, bearer: issuer.token(sub: "user-1")).status == .ok)
            #expect(slack.revoked.get().isEmpty)
        }
    }

    @Test func singleWorkspaceModeConnectsTheConfiguredBot() async throws {
        try await withSlack(botToken: true) { _, browser, slack, issuer in
            let bearer = issuer.token(sub: "user-1")
            let connection = try await browser.connectAndLink("slack", bearer: bearer)
            #expect(connection["accountId"] as? String == "T0ACME")
            let id = try #require(connection["id"] as? String)
            _ = try await browser.client.execute(
                uri: "/oauth/connections/\(id)", method: .delete, headers: [.authorization: "Bearer \(bearer)"])
            // The operator's token is not ours to revoke.
            #expect(slack.revoked.get().isEmpty)
        }
    }

    @Test func gitHubConnectsAsTheInstallingUserAndRotatesTheirTokenOnce() async throws {
        try await withGitHub { app, browser, github, issuer in
            let bearer = issuer.token(sub: "user-1")
            let url = try await browser.start("github", bearer: bearer).url
            #expect(url.hasPrefix(browser.fakeURL + "/apps/connectors-test/installations/new?state="))

            let connection = try await browser.connectAndLink("github", bearer: bearer)
            #expect(connection["accountId"] as? String == github.installationID)
            #expect(connection["accountName"] as? String == "acme-org")
            // Who it acts as: the installing user, with their own user token.
            #expect(connection["providerUserId"] as? String == String(github.userID))
            #expect(connection["providerUserName"] as? String == github.userLogin)
            #expect(connection["scopes"] as? [String] == ["contents:read", "issues:write"])
            #expect(connection["expiresAt"] is String)
            #expect(github.refusals.get().isEmpty)
            // No installation token was minted: the App acts only through the user's token.
            #expect(github.issued.get().isEmpty)
            let userToken = try #require(github.userTokensIssued.get().first)
            #expect(!(try await app.databaseDump()).contains(userToken))
            let id = try #require(connection["id"] as? String)
            #expect(try await app.withTokens { try await $0.accessToken(connectionId: id) } == userToken)

            // Close to expiry: refreshed once however many ask at the same moment, the rotated
            // refresh token stored (a second rotation with the old one would be refused).
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '2 minutes'"#)
            }
            let tokens = try await app.withTokens { tokens in
                try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<4 { group.addTask { try await tokens.accessToken(connectionId: id) } }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
            }
            #expect(github.refreshes.get() == 1)
            #expect(tokens == [try #require(github.userTokensIssued.get().last)])
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '2 minutes'"#)
            }
            let again = try await app.withTokens { try await $0.accessToken(connectionId: id) }
            #expect(github.refreshes.get() == 2)
            #expect(again == github.userTokensIssued.get().last)

            let deleted = try await browser.client.execute(
                uri: "/oauth/connections/\(id)", method: .delete, headers: [.authorization: "Bearer \(bearer)"])
            #expect(deleted.status == .noContent)
            #expect(github.revokedUserTokens.get() == [again])
        }
    }

    @Test func aConnectionFromBeforeUserTokensMustBeConnectedAgain() async throws {
        try await withGitHub { app, _, _, _ in
            // An installation token, no refresh token: what connections held before.
            let id = try await app.insertConnection(
                userId: "user-1", provider: .github, accountId: "9001", accessToken: "ghs_legacy")
            try await app.sql { sql in
                try await sql.query(#"UPDATE "connection" SET "expiresAt" = now() + interval '1 minute'"#)
            }
            await #expect(throws: ConnectionTokens.Failure.reauthRequired) {
                try await app.withTokens { try await $0.accessToken(connectionId: id) }
            }
            let (status, reason) = try await app.sql { sql in
                for try await row in try await sql.query(#"SELECT "status", "statusReason" FROM "connection""#)
                    .decode((String, String?).self)
                {
                    return row
                }
                return ("", nil)
            }
            #expect(status == "reauth_required")
            #expect(reason?.contains("connect GitHub again") == true)
        }
    }

    @Test func gitHubCallbacksForOtherInstallationsOrPendingApprovalsAreRefused() async throws {
        try await withGitHub { app, browser, github, _ in
            for (query, error) in [
                ("installation_id=1234&setup_action=install", "invalid_callback"),
                ("installation_id=\(github.installationID)&setup_action=request", "provider_error"),
                ("setup_action=install", "invalid_callback"),
            ] {
                let started = try await browser.start("github")
                let landing = try await browser.callback(
                    "/oauth/github/callback?\(query)&state=\(started.state)", cookie: started.cookie)
                #expect(queryItems(try #require(landing.headers[.location]))["error"] == error, "\(query)")
            }
            #expect(github.refusals.get().isEmpty)
            #expect(try await app.connectionCount() == 0)
        }
    }

    /// GitHub warns the setup URL's `installation_id` can be spoofed. An attacker who installed
    /// the App on their own account, holding a genuine code, names the victim's installation:
    /// their token does not list it, so nothing is minted and nothing is connected.
    @Test func aSpoofedInstallationIDIsRefused() async throws {
        try await withGitHub { app, browser, github, issuer in
            let bearer = issuer.token(sub: "user-2")
            let attackersCode = github.code(forUserWith: ["5555"])
            let started = try await browser.start("github", bearer: bearer)
            let landing = try await browser.callback(
                "/oauth/github/callback?code=\(attackersCode)&installation_id=\(github.installationID)&setup_action=install&state=\(started.state)",
                cookie: started.cookie)
            #expect(queryItems(try #require(landing.headers[.location]))["error"] == "invalid_callback")
            #expect(queryItems(try #require(landing.headers[.location]))["link"] == nil)
            // The attacker's own user token, minted by the exchange, is not left live.
            #expect(github.revokedUserTokens.get().count == 1)
            // A code nobody issued, or none at all, fares no better.
            for code in ["made-up-code", ""] {
                let again = try await browser.start("github")
                let refused = try await browser.callback(
                    "/oauth/github/callback?code=\(code)&installation_id=\(github.installationID)&setup_action=install&state=\(again.state)",
                    cookie: again.cookie)
                #expect(queryItems(try #require(refused.headers[.location]))["error"] != nil, "\(code)")
            }
            #expect(github.issued.get().isEmpty)
            #expect(try await app.connectionCount() == 0)

            // The same user with access to several installations (a second page) is accepted.
            github.userInstallations.set((0..<150).map { String(20_000 + $0) } + [github.installationID])
            let connection = try await browser.connectAndLink("github", bearer: issuer.token(sub: "user-1"))
            #expect(connection["accountId"] as? String == github.installationID)
        }
    }

    /// Without the App's OAuth credentials an installation cannot be checked: new GitHub
    /// connections are refused with the variables that enable them.
    @Test func withoutTheAppsOAuthCredentialsNewInstallationsAreRefused() async throws {
        try await withGitHub(appOAuth: false) { app, browser, github, issuer in
            let started = try await browser.client.execute(
                uri: "/oauth/github", method: .get, headers: [.authorization: "Bearer \(issuer.token(sub: "u"))"])
            #expect(started.status == .serviceUnavailable)
            #expect(started.errorCode == "PROVIDER_NOT_CONFIGURED")
            #expect((started.json["message"] as? String)?.contains("GITHUB_APP_CLIENT_ID") == true)
            #expect(try await app.connectionCount() == 0)
            // Nor can existing user tokens be renewed — but GitHub refused nothing, so the
            // connection is not sent to reconnect: the failure is one that passes.
            let provider = try #require(testProviders(app.config, logger: Logger(label: "t")).provider(.github))
            do {
                _ = try await provider.refresh(refreshToken: "ghr_still-valid", accountId: "1")
                Issue.record("a refresh without the App's credentials succeeded")
            } catch {
                guard case .unavailable(let reason)? = error as? ProviderError else {
                    Issue.record("expected unavailable, got \(error)")
                    return
                }
                #expect(reason.contains("GITHUB_APP_CLIENT_ID"))
            }
        }
    }
}
