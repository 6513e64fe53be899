import Crypto
import CryptoExtras
import Foundation
import Logging
import MCP
import NIOPosix
import Shared
import Synchronization

/// GitHub, as a GitHub App: the user installs the app on their account or organization, and we
/// act **as that user**, with the App's user access token (user-to-server): every call gets what
/// GitHub allows both the person and the App, so a repository the person cannot open stays
/// closed even where the installation reaches it. The user token (8 hours, with a 6-month
/// refresh token that rotates; or non-expiring, if the App is configured so) is stored sealed
/// and refreshed ahead of expiry. Installation tokens (minted with the App JWT: RS256, `iss` =
/// app id) are used only for App-level work, such as reading the installation itself.
///
/// The `installation_id` GitHub puts on the setup URL comes from the browser, and GitHub warns
/// it can be spoofed: anyone could name another organisation's installation of our App. With
/// "Request user authorization (OAuth) during installation" set on the App, GitHub also sends
/// a `code`; we exchange it (the App's client id and secret) for the installer's user token
/// and accept the installation only if `GET /user/installations` lists it for that user.
struct GitHubAppProvider: ConnectionProvider {
    let http: ProviderHTTP
    let api: GitHubAPI
    /// `GITHUB_URL` (install page, OAuth token endpoint) and `GITHUB_API_URL`.
    let webURL: String
    let apiURL: String
    let appName: String
    let appJWT: GitHubAppJWT
    /// The App's OAuth credentials; without them no new installation can be checked.
    let oauth: OAuthClientCredentials?
    let logger: Logger

    var id: ProviderID { .github }

    var missingForNewConnections: String? {
        oauth == nil
            ? "GITHUB_APP_CLIENT_ID and GITHUB_APP_CLIENT_SECRET (the App's OAuth credentials, to check who installed it)"
            : nil
    }

    func authorizeURL(state: String, codeChallenge: String?, redirectURI: String) -> String {
        // The redirect is the App's configured "Setup URL"; GitHub does not take it as a parameter.
        webURL + "/apps/\(FormEncoding.escape(appName))/installations/new?" + FormEncoding.encode([("state", state)])
    }

    func complete(_ callback: [String: String], codeVerifier: String?, redirectURI: String) async throws(ProviderError)
        -> ProviderGrant
    {
        if let error = callback["error"] { throw .denied(error) }
        // "request": an organization owner must still approve the installation.
        if callback["setup_action"] == "request" { throw .denied("installation_pending") }
        guard let installation = callback["installation_id"], !installation.isEmpty,
            installation.allSatisfy(\.isNumber),
            let code = callback["code"], !code.isEmpty
        else {
            throw .invalidCallback
        }
        // The id comes from the browser: the installer's own token must list it.
        let user = try await userTokens(exchanging: code)
        do {
            return try await grant(installation: installation, user: user)
        } catch {
            // The user token was minted for a connection that will not be made: revoke it.
            await revoke(accessToken: user.accessToken)
            throw error
        }
    }

    /// The installation `user` installed, as a grant: refused when their token does not list it.
    private func grant(installation: String, user: ProviderTokens) async throws(ProviderError) -> ProviderGrant {
        guard try await canAccess(installation, with: user.accessToken) else {
            logger.warning(
                "GitHub callback named an installation its user cannot access",
                metadata: ["installation": "\(installation)"])
            throw .invalidCallback
        }
        let appToken = try await appToken()
        let details: Value
        do {
            details = try await api.get("/app/installations/\(installation)", token: appToken)
        } catch {
            if case .status(404, _) = error.reason { throw .invalidCallback }
            throw .unavailable("\(error)")
        }
        guard let account = details["account"] else {
            throw .unavailable("GitHub named no account for the installation")
        }
        let me: Value
        do {
            me = try await api.get("/user", token: user.accessToken)
        } catch {
            throw .unavailable("\(error)")
        }
        var tokens = user
        // What the App may do there (the user's own rights narrow it further, call by call).
        tokens.scopes = (details["permissions"]?.objectValue ?? [:]).map {
            "\($0.key):\($0.value.stringValue ?? "\($0.value)")"
        }.sorted()
        return ProviderGrant(
            tokens: tokens, accountId: installation, accountName: account["login"]?.stringValue,
            identity: me["id"]?.number.flatMap { Int(exactly: $0) }.map {
                ProviderIdentity(id: String($0), name: me["login"]?.stringValue)
            })
    }

    /// The installer's user tokens for `code` (GitHub's web flow for Apps).
    private func userTokens(exchanging code: String) async throws(ProviderError) -> ProviderTokens {
        guard let oauth else { throw .denied("installer_unverified") }
        let exchange = try await http.postForm(
            webURL + "/login/oauth/access_token",
            [("client_id", oauth.id), ("client_secret", oauth.secret), ("code", code)],
            headers: [("Accept", "application/json")])
        // GitHub answers 200 with {"error": "bad_verification_code"} for a used or foreign code.
        guard exchange.status == 200, exchange.json["access_token"]?.stringValue != nil else { throw .codeRejected }
        return try exchange.tokens(exchangingCode: true)
    }

    /// True when the user of `userToken` can access `installation` (GitHub's "verify the
    /// installation belongs to the user" step for setup URLs).
    private func canAccess(_ installation: String, with userToken: String) async throws(ProviderError) -> Bool {
        for page in 1...10 {
            let listed: [Value]
            do {
                listed =
                    try await api.get("/user/installations?per_page=100&page=\(page)", token: userToken)[
                        "installations"]?.arrayValue ?? []
            } catch {
                throw .unavailable("\(error)")
            }
            if listed.contains(where: { $0["id"]?.intValue.map(String.init) == installation }) { return true }
            if listed.count < 100 { return false }
        }
        return false
    }

    /// New user tokens for the refresh token, which GitHub rotates. A connection made before
    /// user tokens (holding an installation token, no refresh token) must be connected again.
    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens {
        guard let refreshToken else { throw .invalidGrant }
        // Without the App's client id and secret nothing can be renewed here, but GitHub refused
        // nothing: the connection waits for the configuration, not for its owner to reconnect.
        guard let oauth else {
            throw .unavailable("GITHUB_APP_CLIENT_ID and GITHUB_APP_CLIENT_SECRET are needed to renew GitHub tokens")
        }
        let reply = try await http.postForm(
            webURL + "/login/oauth/access_token",
            [
                ("client_id", oauth.id), ("client_secret", oauth.secret), ("grant_type", "refresh_token"),
                ("refresh_token", refreshToken),
            ], headers: [("Accept", "application/json")])
        // Expired, revoked or already-rotated refresh tokens: `bad_refresh_token` (HTTP 200).
        if reply.json["error"]?.stringValue == "bad_refresh_token" { throw .invalidGrant }
        var tokens = try reply.tokens()
        if tokens.refreshToken == nil { tokens.refreshToken = refreshToken }
        return tokens
    }

    /// Revokes the user token (the installation itself stays; the user removes the App from
    /// GitHub's settings): `DELETE /applications/{client_id}/token`, authenticated as the App.
    func revoke(accessToken: String) async {
        guard let oauth else { return }
        do {
            try await api.deleteApplicationToken(accessToken, clientID: oauth.id, clientSecret: oauth.secret)
        } catch {
            logger.warning("could not revoke a GitHub user token", metadata: ["error": "\(error)"])
        }
    }

    /// What GitHub says of an installation now, asked with the App JWT: the fact an
    /// `installation` webhook only claims (GitHub signs the body, not the event header).
    enum InstallationState: String, Sendable {
        case live, suspended, gone
    }

    func installationState(_ installation: String) async throws(ProviderError) -> InstallationState {
        guard !installation.isEmpty, installation.allSatisfy(\.isASCII), installation.allSatisfy(\.isNumber) else {
            return .gone
        }
        let appToken = try await appToken()
        do {
            let details = try await api.get("/app/installations/\(installation)", token: appToken)
            return details["suspended_at"]?.stringValue == nil ? .live : .suspended
        } catch {
            if case .status(404, _) = error.reason { return .gone }
            throw .unavailable("\(error)")
        }
    }

    private func appToken() async throws(ProviderError) -> String {
        do { return try await appJWT.current() } catch { throw .unavailable("could not sign the GitHub App JWT") }
    }
}

/// The GitHub App's JWT: RS256 with the App's private key, `iss` = the numeric App id, backdated 60 s
/// for clock drift and valid 9 minutes (GitHub allows 10). One is reused until a minute before
/// it expires, and signing runs on NIO's blocking pool.
final class GitHubAppJWT: Sendable {
    let appID: String
    let privateKey: _RSA.Signing.PrivateKey
    private let cached = Mutex<(token: String, expiresAt: Date)?>(nil)

    init(appID: String, privateKey: _RSA.Signing.PrivateKey) {
        self.appID = appID
        self.privateKey = privateKey
    }

    func current(now: Date = Date()) async throws -> String {
        if let cached = cached.withLock({ $0 }), cached.expiresAt.timeIntervalSince(now) > 60 { return cached.token }
        let issuedAt = Int(now.timeIntervalSince1970) - 60
        let expiresAt = issuedAt + 60 + 9 * 60
        let input =
            Base64URL.encode(Array(#"{"alg":"RS256","typ":"JWT"}"#.utf8)) + "."
            + Base64URL.encode(Array(#"{"exp":\#(expiresAt),"iat":\#(issuedAt),"iss":\#(appID)}"#.utf8))
        let key = privateKey
        let signature = try await NIOThreadPool.singleton.runIfActive {
            try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        let token = input + "." + Base64URL.encode(signature)
        cached.withLock { $0 = (token, Date(timeIntervalSince1970: TimeInterval(expiresAt))) }
        return token
    }
}
