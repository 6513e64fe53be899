import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Shared

/// "Sign in with GitHub": `POST /api/auth/sign-in/social` starts the flow (state + PKCE S256),
/// `GET /api/auth/callback/github` finishes it. Every callback failure redirects to the error
/// URL with an `error` code; nothing is ever redirected to a URL that was not validated.
struct SocialSignInRoutes: Sendable {
    let github: GitHubClient?
    let users: UserRepository
    let sessions: SessionRepository
    let cookie: SessionCookie
    let states: OAuthStateStore
    let callbackPolicy: CallbackURLPolicy
    let publicURL: String
    let logger: Logger

    struct StartBody: Decodable {
        let provider: String
        let callbackURL: String?
        let errorCallbackURL: String?
        let newUserCallbackURL: String?
        let disableRedirect: Bool?
    }

    struct StartResult: Encodable {
        let url: String
        let redirect: Bool
    }

    var redirectURI: String { publicURL + "/api/auth/callback/github" }
    var stateCookieName: String { (cookie.secure ? "__Secure-" : "") + "better-auth.oauth_state" }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        // Starting counts as a sign-in attempt; the callback is limited like other routes.
        let group = api.group().add(middleware: policies.limit.signIn)
        let router = api.group().add(middleware: policies.limit.api)
        /// Starts a social sign-in: the provider's authorize URL, with state and PKCE. Anyone may call it.
        group.post("/sign-in/social") { request, context in try await start(request, context) }
        /// The provider's redirect back: signs the user in and redirects to the callback URL.
        router.get("/callback/github") { request, context in await callback(request, context) }
    }

    func start(_ request: Request, _ context: AuthRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(StartBody.self, from: request, context: context)
        guard body.provider == "github" else { throw AppError.notFound("PROVIDER_NOT_FOUND", "Provider not found") }
        guard let github else {
            throw AppError.notFound(
                "PROVIDER_NOT_FOUND", "GitHub sign-in is not configured: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET")
        }
        try callbackPolicy.check(body.callbackURL)
        try callbackPolicy.check(body.errorCallbackURL, field: "errorCallbackURL")
        try callbackPolicy.check(body.newUserCallbackURL, field: "newUserCallbackURL")

        let state = RandomToken.base64URL(byteCount: 24)
        let verifier = RandomToken.base64URL(byteCount: 32)
        let challenge = Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
        let nonce = RandomToken.base64URL(byteCount: 24)
        try await states.save(
            OAuthState(
                codeVerifier: verifier, callbackURL: body.callbackURL, errorCallbackURL: body.errorCallbackURL,
                newUserCallbackURL: body.newUserCallbackURL, browserBinding: Self.digest(nonce)),
            key: state)
        let url = github.authorizeURL(state: state, codeChallenge: challenge, redirectURI: redirectURI)
        var headers: HTTPFields = [.location: url]
        headers.append(
            HTTPField(
                name: .setCookie,
                value: cookie.attributes("\(stateCookieName)=\(cookie.value(for: nonce))", maxAge: states.lifetime)))
        return try Response.json(StartResult(url: url, redirect: body.disableRedirect != true), headers: headers)
    }

    func callback(_ request: Request, _ context: AuthRequestContext) async -> Response {
        let query = request.uri.queryParameters
        var clearState = HTTPFields()
        clearState.append(HTTPField(name: .setCookie, value: cookie.expired(stateCookieName)))

        guard let stateKey = query["state"].map(String.init), let state = try? await states.consume(stateKey) else {
            return redirect(to: errorURL(nil, "state_mismatch"), headers: clearState)
        }
        let failure = { (code: String) in redirect(to: errorURL(state.errorCallbackURL, code), headers: clearState) }
        // The callback must arrive in the browser that started the flow.
        guard let raw = cookie.cookie(named: stateCookieName, in: request),
            let nonce = cookie.token(fromCookieValue: raw),
            ConstantTime.equals(Self.digest(nonce), state.browserBinding)
        else { return failure("state_mismatch") }
        if let providerError = query["error"].map(String.init) {
            return failure(String(providerError.filter { $0.isLetter || $0 == "_" }.prefix(64)))
        }
        guard let code = query["code"].map(String.init), !code.isEmpty, let github else {
            return failure("invalid_code")
        }

        do {
            let token: String
            do {
                token = try await github.exchange(code: code, verifier: state.codeVerifier, redirectURI: redirectURI)
            } catch {
                return failure("invalid_code")
            }
            let profile: GitHubClient.Profile
            let emails: [GitHubClient.Email]
            do {
                profile = try await github.profile(token: token)
                emails = try await github.emails(token: token)
            } catch {
                return failure("unable_to_get_user_info")
            }
            // Only an address GitHub has verified names a person; an unverified one is whatever
            // was typed into GitHub.
            let chosen = emails.first { $0.primary && $0.verified } ?? emails.first { $0.verified }
            guard let chosen else { return failure("email_not_found") }
            let email = chosen.email.lowercased()
            let accountId = String(profile.id)

            var isNewUser = false
            let user: User
            if let existing = try await users.findByAccount(providerId: "github", accountId: accountId) {
                user = existing
            } else if let (existing, _) = try await users.findByEmail(email) {
                // Link only to an account whose owner proved the address. Anyone can sign up with
                // an email they do not own and a password of their choosing; linking the real
                // owner's GitHub into that account would hand it to the squatter's password
                // (Better Auth's `requireLocalEmailVerified`).
                guard existing.emailVerified else { return failure("account_not_linked") }
                try await users.linkAccount(
                    userId: existing.id, providerId: "github", accountId: accountId, scope: "read:user,user:email")
                user = existing
            } else {
                user = try await users.create(
                    name: profile.name ?? profile.login, email: email, emailVerified: true, image: profile.avatar_url,
                    providerId: "github", accountId: accountId, scope: "read:user,user:email")
                isNewUser = true
            }
            let session = try await sessions.create(
                userId: user.id, lifetime: cookie.policy.expiresIn, ipAddress: context.clientIP,
                userAgent: request.headers[.userAgent])
            var headers = cookie.establishingHeaders(token: session.token, rememberMe: true)
            headers.append(contentsOf: clearState)
            let target = (isNewUser ? state.newUserCallbackURL : nil) ?? state.callbackURL ?? "/"
            return redirect(to: absolute(target), headers: headers)
        } catch {
            logger.error("GitHub sign-in failed", metadata: ["error": "\(error)"])
            return failure("unable_to_create_session")
        }
    }

    private func redirect(to location: String, headers: HTTPFields) -> Response {
        var headers = headers
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .found, headers: headers)
    }

    /// The validated error URL (default `PUBLIC_URL/error`) with `?error=CODE`.
    private func errorURL(_ configured: String?, _ code: String) -> String {
        let base = absolute(configured ?? "/error")
        return base + (base.contains("?") ? "&" : "?") + "error=" + FormEncoding.escape(code)
    }

    private func absolute(_ url: String) -> String {
        url.hasPrefix("/") ? publicURL + url : url
    }

    static func digest(_ nonce: String) -> String {
        Hex.encode(SHA256.hash(data: Array(nonce.utf8)))
    }
}
