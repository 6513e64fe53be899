import Foundation
import Logging
import Shared

/// Slack: the OAuth v2 app install (`oauth.v2.access` → a bot token for one workspace), or —
/// with `SLACK_BOT_TOKEN` — a single workspace whose bot token is configured: "connecting"
/// then skips Slack's consent page and reads the workspace from `auth.test`. That token is the
/// operator's company bot (it reads every channel it is in and posts as the company), so in
/// that mode only the users named in `SLACK_BOT_USERS` may connect, by verified email.
struct SlackProvider: ConnectionProvider {
    /// What the bot needs for the agent: read mentions, DMs and threads, and post replies.
    static let botScopes = "app_mentions:read,channels:history,channels:read,chat:write,groups:history,groups:read,im:history,im:read,users:read"

    enum Mode: Sendable {
        case oauth(clientID: String, clientSecret: String)
        /// `allowedEmails` lower-cased.
        case singleWorkspace(botToken: String, allowedEmails: Set<String>)
    }

    let http: ProviderHTTP
    /// `SLACK_API_URL` (Web API methods) and the site the install page lives on.
    let apiURL: String
    let webURL: String
    let mode: Mode
    let logger: Logger

    var id: ProviderID { .slack }

    func authorizeURL(state: String, codeChallenge: String?, redirectURI: String) -> String {
        switch mode {
        case .oauth(let clientID, _):
            return webURL + "/oauth/v2/authorize?" + FormEncoding.encode([
                ("client_id", clientID), ("scope", Self.botScopes), ("redirect_uri", redirectURI), ("state", state),
            ])
        case .singleWorkspace:
            // Nothing to consent to: straight back to our callback, which checks the state.
            return redirectURI + "?" + FormEncoding.encode([("state", state)])
        }
    }

    func complete(_ callback: [String: String], codeVerifier: String?, redirectURI: String) async throws(ProviderError) -> ProviderGrant {
        if let error = callback["error"] { throw .denied(error) }
        switch mode {
        case .singleWorkspace(let botToken, _):
            let reply = try await call("auth.test", token: botToken)
            guard let team = reply["team_id"] as? String else { throw .unavailable("auth.test named no team") }
            let scopes = ScopeList.parse(Self.botScopes)
            return ProviderGrant(tokens: ProviderTokens(accessToken: botToken, scopes: scopes), accountId: team, accountName: reply["team"] as? String)
        case .oauth(let clientID, let clientSecret):
            guard let code = callback["code"], !code.isEmpty else { throw .invalidCallback }
            let reply = try await http.postForm(apiURL + "/oauth.v2.access", [
                ("code", code), ("redirect_uri", redirectURI), ("client_id", clientID), ("client_secret", clientSecret),
            ])
            let json = try Self.checked(reply, exchangingCode: true)
            guard let token = json["access_token"] as? String, let team = json["team"] as? [String: Any], let teamID = team["id"] as? String else {
                throw .unavailable("oauth.v2.access answered without a bot token or team")
            }
            return ProviderGrant(tokens: Self.tokens(token, json), accountId: teamID, accountName: team["name"] as? String)
        }
    }

    func checkMayConnect(_ user: AuthenticatedUser?) throws(AppError) {
        guard case .singleWorkspace(_, let allowed) = mode else { return }
        // An email counts only once the person proved it: anyone can sign up with any address.
        guard let user, user.emailVerified, let email = user.email?.lowercased(), allowed.contains(email) else {
            throw AppError.forbidden(
                "SLACK_BOT_RESTRICTED", "Slack here is the operator's workspace bot; only the users they name (by verified email) may connect it.")
        }
    }

    /// Only apps with token rotation get expiring bot tokens (and a refresh token).
    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens {
        guard case .oauth(let clientID, let clientSecret) = mode, let refreshToken else { throw .refreshUnsupported }
        let reply = try await http.postForm(apiURL + "/oauth.v2.access", [
            ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", clientID), ("client_secret", clientSecret),
        ])
        let json = try Self.checked(reply, exchangingCode: false)
        guard let token = json["access_token"] as? String else { throw .unavailable("oauth.v2.access answered without a token") }
        return Self.tokens(token, json)
    }

    /// One bot token per workspace install: every user connected to the workspace holds it.
    var tokenIsSharedByTheAccount: Bool { true }

    func revoke(accessToken: String) async {
        // The configured single-workspace token is the operator's, not ours to revoke.
        guard case .oauth = mode else { return }
        do {
            _ = try await call("auth.revoke", token: accessToken)
        } catch {
            logger.warning("could not revoke a Slack token", metadata: ["error": "\(error)"])
        }
    }

    /// A Web API method called with a bearer token; `ok: false` becomes an error.
    private func call(_ method: String, token: String) async throws(ProviderError) -> [String: Any] {
        try Self.checked(try await http.postForm(apiURL + "/" + method, [], headers: [("Authorization", "Bearer \(token)")]), exchangingCode: false)
    }

    /// Slack answers 200 with `ok: false` and an `error` code for failures.
    static func checked(_ reply: ProviderHTTP.Reply, exchangingCode: Bool) throws(ProviderError) -> [String: Any] {
        guard reply.status == 200 else { throw .unavailable("Slack answered \(reply.status)") }
        guard reply.json["ok"] as? Bool == true else {
            let error = reply.json["error"] as? String ?? "unknown_error"
            switch error {
            case "invalid_code", "code_already_used", "bad_redirect_uri": throw exchangingCode ? .codeRejected : .invalidGrant
            case "invalid_refresh_token", "invalid_grant", "token_revoked", "account_inactive", "invalid_auth": throw .invalidGrant
            default: throw .unavailable("Slack: \(error)")
            }
        }
        return reply.json
    }

    static func tokens(_ token: String, _ json: [String: Any]) -> ProviderTokens {
        ProviderTokens(
            accessToken: token, refreshToken: json["refresh_token"] as? String,
            expiresAt: (json["expires_in"] as? NSNumber).map { Date().addingTimeInterval($0.doubleValue) },
            scopes: ScopeList.parse(json["scope"]))
    }
}
