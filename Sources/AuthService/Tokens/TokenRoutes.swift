import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// `GET /api/auth/token` and the JWKS at `/.well-known/jwks.json` and `/api/auth/jwks`.
struct TokenRoutes: Sendable {
    let sessions: SessionRepository
    let cookie: SessionCookie
    let issuer: JWTIssuer
    let keys: SigningKeys

    /// `/token`: the general limit, then a session (401 without one).
    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group().add(middleware: policies.limit.api).add(middleware: policies.session.required)
        /// A freshly signed RS256 JWT for the caller's session.
        group.get("/token") { _, context in
            let (_, user) = try context.requireSession()
            guard let key = keys.signer() else {
                throw AppError.serviceUnavailable("NO_SIGNING_KEY", "No JWT signing key is loaded.")
            }
            let (jwt, _) = try await issuer.sign(user: user, key: key)
            // A compact JWS is base64url and dots only: nothing in it needs JSON escaping.
            return Response.json(encoded: ByteBuffer(string: #"{"token":""# + jwt + #""}"#))
        }
    }

    /// The JWKS is public, served from memory, and not rate limited (verifiers cache it).
    func registerJWKS(on router: Router<AuthRequestContext>) {
        let serve: @Sendable (Request, AuthRequestContext) -> Response = { _, _ in
            Response.json(encoded: keys.jwks, headers: [.cacheControl: "public, max-age=\(Int(keys.cachePeriod))"])
        }
        /// The public signing keys (RFC 7517), for JWT verifiers.
        router.get("/.well-known/jwks.json", use: serve)
        /// The same document at Better Auth's path.
        router.get("/api/auth/jwks", use: serve)
    }
}
