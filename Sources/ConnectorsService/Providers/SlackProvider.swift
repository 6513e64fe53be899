import Foundation
import Logging
import MCP
import Shared

/// Slack: the OAuth v2 app install (`oauth.v2.access` → a bot token for one workspace), or —
/// with `SLACK_BOT_TOKEN` — a single workspace whose bot token is configured: "connecting"
/// then skips Slack's consent page and reads the workspace from `auth.test`. That token is the
/// operator's company bot (it reads every channel it is in and posts as the company), so in
/// that mode only the users named in `SLACK_BOT_USERS` may connect, by verified email.
struct SlackProvider: ConnectionProvider {
    /// What the bot needs for the agent: read mentions, DMs and threads, and post replies.
    static let botScopes =
        "app_mentions:read,channels:history,channels:read,chat:write,groups:history,groups:read,im:history,im:read,users:read"

    enum Mode: Sendable {
        case oauth(clientID: String, clientSecret: String)
        /// `allowedEmails` lower-cased.
        case singleWorkspace(botToken: String, allowedEmails: Set<String>)
    }

    let api: SlackAPI
    /// The site the install page lives on.
    let webURL: String
    let mode: Mode
    let logger: Logger

    var id: ProviderID { .slack }

    func authorizeURL(state: String, codeChallenge: String?, redirectURI: String) -> String {
        switch mode {
        case .oauth(let clientID, _):
            return webURL + "/oauth/v2/authorize?"
                + FormEncoding.encode([
                    ("client_id", clientID), ("scope", Self.botScopes), ("redirect_uri", redirectURI), ("state", state),
                ])
        case .singleWorkspace:
            // Nothing to consent to: straight back to our callback, which checks the state.
            return redirectURI + "?" + FormEncoding.encode([("state", state)])
        }
    }

    func complete(_ callback: [String: String], codeVerifier: String?, redirectURI: String) async throws(ProviderError)
        -> ProviderGrant
    {
        if let error = callback["error"] { throw .denied(error) }
        switch mode {
        case .singleWorkspace(let botToken, _):
            let workspace = try await Self.mapped(exchangingCode: false) { () throws(ProviderAPIFailure) in
                try await api.workspace(token: botToken)
            }
            let scopes = ScopeList.parse(Self.botScopes)
            return ProviderGrant(
                tokens: ProviderTokens(accessToken: botToken, scopes: scopes), accountId: workspace.id,
                accountName: workspace.name)
        case .oauth(let clientID, let clientSecret):
            guard let code = callback["code"], !code.isEmpty else { throw .invalidCallback }
            let json = try await Self.mapped(exchangingCode: true) { () throws(ProviderAPIFailure) in
                try await api.call(
                    "oauth.v2.access", token: nil,
                    [
                        ("code", code), ("redirect_uri", redirectURI), ("client_id", clientID),
                        ("client_secret", clientSecret),
                    ])
            }
            guard let token = json["access_token"]?.stringValue, let teamID = json["team"]?["id"]?.stringValue else {
                throw .unavailable("oauth.v2.access answered without a bot token or team")
            }
            // `authed_user` is the person who installed: who a mention from them runs as.
            return ProviderGrant(
                tokens: Self.tokens(token, json), accountId: teamID, accountName: json["team"]?["name"]?.stringValue,
                identity: json["authed_user"]?["id"]?.stringValue.map { ProviderIdentity(id: $0, name: nil) })
        }
    }

    func checkMayConnect(_ user: AuthenticatedUser?) throws(AppError) {
        guard case .singleWorkspace(_, let allowed) = mode else { return }
        // An email counts only once the person proved it: anyone can sign up with any address.
        guard let user, user.emailVerified, let email = user.email?.lowercased(), allowed.contains(email) else {
            throw AppError.forbidden(
                "SLACK_BOT_RESTRICTED",
                "Slack here is the operator's workspace bot; only the users they name (by verified email) may connect it."
            )
        }
    }

    /// Only apps with token rotation get expiring bot tokens (and a refresh token).
    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens {
        guard case .oauth(let clientID, let clientSecret) = mode, let refreshToken else { throw .refreshUnsupported }
        let json = try await Self.mapped(exchangingCode: false) { () throws(ProviderAPIFailure) in
            try await api.call(
                "oauth.v2.access", token: nil,
                [
                    ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", clientID),
                    ("client_secret", clientSecret),
                ])
        }
        guard let token = json["access_token"]?.stringValue else {
            throw .unavailable("oauth.v2.access answered without a token")
        }
        return Self.tokens(token, json)
    }

    /// One bot token per workspace install: every user connected to the workspace holds it.
    var tokenIsSharedByTheAccount: Bool { true }

    func revoke(accessToken: String) async {
        // The configured single-workspace token is the operator's, not ours to revoke.
        guard case .oauth = mode else { return }
        do {
            _ = try await api.call("auth.revoke", token: accessToken)
        } catch {
            logger.warning("could not revoke a Slack token", metadata: ["error": "\(error)"])
        }
    }

    /// Runs a Web API call, with Slack's error codes read as OAuth outcomes: a refused code, a
    /// dead grant, or the provider being unavailable.
    static func mapped<T>(exchangingCode: Bool, _ call: () async throws(ProviderAPIFailure) -> T)
        async throws(ProviderError) -> T
    {
        do {
            return try await call()
        } catch {
            guard case .refused(let code) = error.reason else { throw .unavailable("\(error)") }
            switch code {
            case "invalid_code", "code_already_used", "bad_redirect_uri":
                throw exchangingCode ? .codeRejected : .invalidGrant
            case "invalid_refresh_token", "invalid_grant", "token_revoked", "account_inactive", "invalid_auth":
                throw .invalidGrant
            default: throw .unavailable("Slack: \(code)")
            }
        }
    }

    static func tokens(_ token: String, _ json: [String: Value]) -> ProviderTokens {
        ProviderTokens(
            accessToken: token, refreshToken: json["refresh_token"]?.stringValue,
            expiresAt: json["expires_in"]?.number.map { Date().addingTimeInterval($0) },
            scopes: ScopeList.parse(json["scope"]))
    }
}
