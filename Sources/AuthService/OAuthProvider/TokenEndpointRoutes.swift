import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// `POST /api/auth/oauth2/token`, `/revoke` (RFC 7009), `/introspect` (RFC 7662) and
/// `GET|POST /userinfo`: the endpoints MCP clients call directly, never with cookies.
struct TokenEndpointRoutes: Sendable {
    let tokens: TokenService
    let authenticator: ClientAuthenticator
    let grants: OAuthGrantRepository
    let keys: SigningKeys
    let users: UserRepository
    let settings: OAuthServerSettings

    /// The claims of one of our access tokens, as revocation and introspection read them back.
    struct ReadClaims: Codable {
        let iss: String?
        let sub: String?
        let aud: String?
        let client_id: String?
        let azp: String?
        let scope: String?
        let sid: String?
        let iat: Int64?
        let exp: Int64?
        let jti: String?
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group("/oauth2").add(middleware: policies.limit.api)
        /// Tokens for a code or a refresh token; any registered client.
        group.post("/token") { request, context in
            let form = try await OAuthForm.read(request, context: context)
            let client = try await authenticator.authenticate(request, form: form)
            let response: TokenService.TokenResponse
            switch try form.one("grant_type") {
            case nil: throw OAuthError.invalidRequest("grant_type is required")
            case "authorization_code":
                response = try await tokens.exchangeCode(form, client: client)
            case "refresh_token":
                guard client.allows(grant: "refresh_token") else {
                    throw OAuthError(
                        status: .badRequest, error: "unauthorized_client", errorDescription: "refresh_token not allowed"
                    )
                }
                response = try await tokens.refresh(form, client: client)
            case let other?:
                throw OAuthError(
                    status: .badRequest, error: "unsupported_grant_type",
                    errorDescription: "\(other) is not supported")
            }
            return try Response.json(
                response, headers: [.cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"])
        }
        /// Revokes a refresh or access token the calling client holds (RFC 7009: unknown tokens are fine).
        group.post("/revoke") { request, context in
            let form = try await OAuthForm.read(request, context: context)
            let client = try await authenticator.authenticate(request, form: form)
            let token = try form.required("token")
            if let claims = accessTokenClaims(token), claims.client_id == client.clientId, let sub = claims.sub,
                let sid = claims.sid
            {
                try await grants.deleteTokens(grantId: sid)
                try await grants.revoke(
                    clientId: client.clientId, userId: sub, grantId: sid, tokenLifetime: settings.revocationLifetime)
                await grants.recordGrant(
                    "oauth.grant_revoked", userId: sub, clientId: client.clientId, why: "revoked by the client",
                    actor: "client")
            } else if let owner = try await grants.revokeRefreshToken(
                hash: OAuthHash.of(token), clientId: client.clientId, tokenLifetime: settings.revocationLifetime)
            {
                await grants.recordGrant(
                    "oauth.grant_revoked", userId: owner, clientId: client.clientId, why: "revoked by the client",
                    actor: "client")
            }
            return Response(status: .ok, headers: [.cacheControl: "no-store", .contentLength: "0"])
        }
        /// Whether a token is active (RFC 7662); confidential clients only.
        group.post("/introspect") { request, context in
            let form = try await OAuthForm.read(request, context: context)
            let client = try await authenticator.authenticate(request, form: form)
            guard !client.isPublic else {
                throw OAuthError(
                    status: .unauthorized, error: "invalid_client", errorDescription: "missing required credentials",
                    headers: [.wwwAuthenticate: #"Basic realm="oauth""#])
            }
            var token = try form.required("token")
            if token.lowercased().hasPrefix("bearer ") { token = String(token.dropFirst(7)) }
            // A client introspects its own tokens, or tokens for a resource it serves.
            let claims = accessTokenClaims(token)
            var mayRead = claims?.client_id == client.clientId
            if !mayRead, let audience = claims?.aud {
                mayRead = try await grants.isLinked(clientId: client.clientId, resource: audience)
            }
            if let claims, mayRead, let exp = claims.exp, exp > Int64(Date().timeIntervalSince1970),
                let sub = claims.sub, let clientId = claims.client_id,
                try await !grants.isRevoked(clientId: clientId, userId: sub, grantId: claims.sid, issuedAt: claims.iat)
            {
                return try Response.json(
                    Introspection(active: true, claims: claims), headers: [.cacheControl: "no-store"])
            }
            return Response.json(
                encoded: ByteBuffer(string: #"{"active":false}"#), headers: [.cacheControl: "no-store"])
        }
        /// The signed-in person's claims for an access token with `openid` (OpenID Connect §5.3).
        for method in [HTTPRequest.Method.get, .post] {
            group.on("/userinfo", method: method) { request, _ in
                guard let authorization = request.headers[.authorization],
                    authorization.lowercased().hasPrefix("bearer ")
                else {
                    throw OAuthError(
                        status: .unauthorized, error: "invalid_request", errorDescription: "access token not found",
                        headers: [.wwwAuthenticate: "Bearer"])
                }
                let invalid = OAuthError(
                    status: .unauthorized, error: "invalid_token", errorDescription: "Invalid access token",
                    headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
                guard let claims = accessTokenClaims(String(authorization.dropFirst(7))),
                    let exp = claims.exp, exp > Int64(Date().timeIntervalSince1970), let sub = claims.sub,
                    let clientId = claims.client_id,
                    try await !grants.isRevoked(
                        clientId: clientId, userId: sub, grantId: claims.sid, issuedAt: claims.iat),
                    let user = try await users.find(id: sub)
                else { throw invalid }
                let scopes = OAuthScope.parse(claims.scope)
                guard scopes.contains(OAuthScope.openID) else {
                    throw OAuthError(
                        status: .forbidden, error: "insufficient_scope", errorDescription: "openid is required",
                        headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope", scope="openid""#])
                }
                let profile = scopes.contains("profile")
                let email = scopes.contains("email")
                return try Response.json(
                    UserInfo(
                        sub: sub, name: profile ? user.name : nil, picture: profile ? user.image : nil,
                        email: email ? user.email : nil, email_verified: email ? user.emailVerified : nil),
                    headers: [.cacheControl: "no-store"])
            }
        }
    }

    /// Our access token's claims (signature, issuer and `typ` checked; times not).
    func accessTokenClaims(_ token: String) -> ReadClaims? {
        guard let (typ, payload) = keys.verifiedPayload(of: token), typ == "at+jwt",
            let claims = try? JSONDecoder().decode(ReadClaims.self, from: Data(payload)), claims.iss == settings.issuer
        else { return nil }
        return claims
    }

    struct Introspection: Encodable {
        let active: Bool
        let claims: ReadClaims
        func encode(to encoder: any Encoder) throws {
            try claims.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(active, forKey: .active)
            try container.encode("Bearer", forKey: .token_type)
        }
        enum Keys: String, CodingKey { case active, token_type }
    }

    struct UserInfo: Encodable {
        let sub: String
        let name: String?
        let picture: String?
        let email: String?
        let email_verified: Bool?
    }
}
