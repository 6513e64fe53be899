import Crypto
import Foundation
import Hummingbird
import Shared

/// What a connect flow's `state` carries. The state is this, signed: starting a flow writes
/// nothing anywhere, so anonymous callers cannot fill Redis by starting flows.
struct ConnectState: Codable, Sendable, Equatable {
    /// 128 random bits: the key its single use is recorded under.
    var id: String
    var provider: ProviderID
    /// The user whose JWT started the flow; the link code is then theirs alone.
    var userId: String?
    /// Base64url SHA-256 of the nonce in the starting browser's cookie (first 128 bits).
    var browser: String
    /// Unix seconds.
    var expires: Int

    enum CodingKeys: String, CodingKey {
        case id = "i", provider = "p", userId = "u", browser = "b", expires = "e"
    }
}

/// Issues and redeems connect-flow states: signed under `JWT_SECRET`, valid 10 minutes, bound
/// to the browser by a nonce cookie scoped to the provider's callback path, spent once at the
/// callback (the only Redis write, made after the signature and the cookie checked out). The
/// PKCE verifier is derived from the state's id and the nonce, so it never travels.
struct ConnectStates: Sendable {
    let tokens: SignedToken
    let verifiers: HMACSigner
    let spent: SpentMarks
    /// Cookies get `Secure` and the `__Secure-` prefix when the public URL is https.
    let secureCookies: Bool
    var lifetime = 600

    init(secret: String, redis: RedisClient, secureCookies: Bool) {
        tokens = SignedToken(secret: secret, purpose: "connect-state")
        verifiers = HMACSigner(secret: secret)
        spent = SpentMarks(redis: redis, prefix: "connect-state-spent:")
        self.secureCookies = secureCookies
    }

    struct Issued {
        let state: String
        /// The `Set-Cookie` value that binds the flow to this browser.
        let cookie: String
        let codeVerifier: String
    }

    struct Redeemed {
        let flow: ConnectState
        let codeVerifier: String
        /// The starting browser's nonce: what binds a link code of a flow no user started to
        /// the browser that finished it.
        let nonce: String
    }

    enum Refusal: Error {
        /// Forged, malformed, expired or for another provider.
        case invalid
        /// The browser presenting it is not the one that started the flow.
        case otherBrowser
        /// Presented before.
        case spent
    }

    var cookieName: String { (secureCookies ? "__Secure-" : "") + "connectors.connect_nonce" }

    func issue(provider: ProviderID, userId: String?, now: Date = Date()) throws -> Issued {
        let nonce = RandomToken.base64URL(byteCount: 24)
        let flow = ConnectState(
            id: RandomToken.base64URL(byteCount: 16), provider: provider, userId: userId,
            browser: Self.binding(nonce), expires: Int(now.timeIntervalSince1970) + lifetime)
        return Issued(
            state: tokens.make(payload: try JSONEncoder().encode(flow)),
            cookie: cookie(nonce, maxAge: lifetime, provider: provider),
            codeVerifier: verifier(flow, nonce: nonce))
    }

    /// Checks `state` against the provider and the request's nonce cookie, then spends it.
    func redeem(_ state: String, provider: ProviderID, request: Request, now: Date = Date()) async throws
        -> Redeemed
    {
        guard let payload = tokens.payload(of: state, maxLength: 512),
            let flow = try? JSONDecoder().decode(ConnectState.self, from: Data(payload)),
            flow.provider == provider, now.timeIntervalSince1970 < TimeInterval(flow.expires)
        else { throw Refusal.invalid }
        guard let nonce = request.cookies[cookieName]?.value,
            ConstantTime.equals(Array(Self.binding(nonce).utf8), Array(flow.browser.utf8))
        else { throw Refusal.otherBrowser }
        let expiry = Date(timeIntervalSince1970: TimeInterval(flow.expires))
        guard try await spent.spend(flow.id, expiry: expiry, now: now) else { throw Refusal.spent }
        return Redeemed(flow: flow, codeVerifier: verifier(flow, nonce: nonce), nonce: nonce)
    }

    /// The `Set-Cookie` value that removes the nonce once the callback has used it.
    func clearingCookie(_ provider: ProviderID) -> String { cookie("", maxAge: 0, provider: provider) }

    /// The nonce cookie's `Set-Cookie` value: only the provider's callback path ever sees it.
    private func cookie(_ value: String, maxAge: Int, provider: ProviderID) -> String {
        Self.cookie(
            cookieName, value, maxAge: maxAge, path: callbackPath(provider), sameSite: .lax, secure: secureCookies)
    }

    /// An `HttpOnly` cookie for one path, `Secure` when the public URL is https.
    private static func cookie(
        _ name: String, _ value: String, maxAge: Int, path: String, sameSite: Cookie.SameSite, secure: Bool
    ) -> String {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secure, httpOnly: true, sameSite: sameSite)
            .description
    }

    func callbackPath(_ provider: ProviderID) -> String { "/oauth/\(provider.rawValue)/callback" }

    // MARK: Link codes of flows no user started

    /// A flow started without a JWT may be claimed by whoever signs in — but only in the browser
    /// that finished it: its link code carries the binding of the flow's nonce, and the callback
    /// hands that browser the nonce again in a cookie only the provider's link route sees. A code
    /// sent to someone else (to attach the sender's account to theirs) does not work there.
    var linkCookieName: String { (secureCookies ? "__Secure-" : "") + "connectors.link_nonce" }

    func linkCode(_ codes: SignedToken, nonce: String) -> String {
        codes.make(payload: RandomToken.bytes(16) + Array(Self.binding(nonce).utf8))
    }

    /// True when `code` was made by `linkCode` for the nonce in this request's link cookie.
    func linkCodeIsFromThisBrowser(_ code: String, _ codes: SignedToken, request: Request) -> Bool {
        guard let payload = codes.payload(of: code, maxLength: 128), payload.count > 16,
            let nonce = request.cookies[linkCookieName]?.value
        else { return false }
        return ConstantTime.equals(Array(payload.dropFirst(16)), Array(Self.binding(nonce).utf8))
    }

    func linkCookie(_ nonce: String, provider: ProviderID, maxAge: Int) -> String {
        Self.cookie(
            linkCookieName, nonce, maxAge: maxAge, path: "/oauth/\(provider.rawValue)/link", sameSite: .strict,
            secure: secureCookies)
    }

    static func binding(_ nonce: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(nonce.utf8)).prefix(16))
    }

    /// 43 base64url characters, as RFC 7636 asks of a verifier.
    private func verifier(_ flow: ConnectState, nonce: String) -> String {
        Base64URL.encode(verifiers.sha256(Array("connect-pkce:\(flow.id):\(nonce)".utf8)))
    }
}
