import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// A small Linear for tests: OAuth 2 with the PKCE S256 check (a token request whose
/// `code_verifier` does not match the challenge is refused), 24-hour access tokens with
/// rotating refresh tokens, revocation, and the GraphQL `viewer`/`organization` query.
/// It records what it was asked, so tests can check it.
public final class FakeLinear: Sendable {
    struct Grant: Sendable {
        let challenge: String
        let redirectURI: String
    }

    public let clientID = "lin-client-id"
    public let clientSecret = "lin-client-secret"
    public let organization = (id: "org-acme", name: "Acme Corp")
    private let grants = SendableBox<[String: Grant]>([:])
    /// Live access tokens, and the one live refresh token of each chain.
    public let accessTokens = SendableBox<Set<String>>([])
    public let refreshTokens = SendableBox<Set<String>>([])
    /// Every token issued, so tests can look for them in the database.
    public let issued = SendableBox<[String]>([])
    public let refreshes = SendableBox(0)
    public let revoked = SendableBox<[String]>([])
    /// GraphQL answers 503 (Linear down after a code exchange went through).
    public let graphQLDown = SendableBox(false)
    /// Token requests that were refused, with the OAuth error code.
    public let refusals = SendableBox<[String]>([])
    /// How long the token endpoint takes to answer a code exchange.
    public let exchangeDelay = SendableBox<Duration>(.zero)
    /// When set, the token endpoint answers 500.
    public let failing = SendableBox(false)
    /// How long a refresh takes (to let concurrent callers overlap).
    public let refreshDelay = SendableBox<Duration>(.zero)
    /// Refresh requests received (counted before `refreshDelay`).
    public let refreshesStarted = SendableBox(0)
    /// While set, refresh requests wait (after being counted) until it is cleared: lets a test
    /// act while a refresh is at Linear, however long that takes on a loaded machine.
    public let holdRefreshes = SendableBox(false)
    /// `expires_in` of issued access tokens (Linear: 24 hours).
    public let expiresIn = SendableBox(86_399)

    public init() {}

    public var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in "fake linear" }
        router.get("/oauth/authorize") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["client_id"].map(String.init) == self.clientID, query["response_type"] == "code",
                query["code_challenge_method"] == "S256", query["scope"] == "read,write,issues:create,comments:create",
                let challenge = query["code_challenge"].map(String.init),
                let redirect = query["redirect_uri"].map(String.init),
                let state = query["state"].map(String.init)
            else { return Response(status: .badRequest) }
            let code = RandomToken.string(length: 20)
            self.grants.update { $0[code] = Grant(challenge: challenge, redirectURI: redirect) }
            return Response(
                status: .found, headers: [.location: "\(redirect)?code=\(code)&state=\(FormEncoding.escape(state))"])
        }
        router.post("/oauth/token") { request, _ -> Response in
            let form = try await Self.form(request)
            if self.failing.get() { return Response(status: .internalServerError) }
            guard form["client_id"] == self.clientID, form["client_secret"] == self.clientSecret else {
                return try self.refuse("invalid_client")
            }
            switch form["grant_type"] {
            case "authorization_code":
                try await Task.sleep(for: self.exchangeDelay.get())
                guard
                    let grant = self.grants.update({ grants in form["code"].flatMap { grants.removeValue(forKey: $0) } }
                    ),
                    grant.redirectURI == form["redirect_uri"],
                    Base64URL.encode(SHA256.hash(data: Array((form["code_verifier"] ?? "").utf8))) == grant.challenge
                else { return try self.refuse("invalid_grant") }
                return try self.issue()
            case "refresh_token":
                self.refreshesStarted.update { $0 += 1 }
                while self.holdRefreshes.get() { try await Task.sleep(for: .milliseconds(10)) }
                try await Task.sleep(for: self.refreshDelay.get())
                guard let token = form["refresh_token"], self.refreshTokens.update({ $0.remove(token) }) != nil else {
                    return try self.refuse("invalid_grant")
                }
                self.refreshes.update { $0 += 1 }
                return try self.issue()
            default:
                return try self.refuse("unsupported_grant_type")
            }
        }
        router.post("/oauth/revoke") { request, _ -> Response in
            let form = try await Self.form(request)
            let bearer = request.headers[.authorization].map { String($0.dropFirst(7)) }
            guard let token = form["token"] ?? bearer, self.accessTokens.update({ $0.remove(token) }) != nil else {
                return Response(status: .badRequest)
            }
            self.revoked.update { $0.append(token) }
            return Response(status: .ok)
        }
        router.post("/graphql") { request, _ -> Response in
            if self.graphQLDown.get() { return Response(status: .serviceUnavailable) }
            guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer "),
                self.accessTokens.get().contains(String(authorization.dropFirst(7)))
            else {
                return try Self.json(
                    [
                        "errors": [
                            ["message": "Authentication required", "extensions": ["code": "AUTHENTICATION_ERROR"]]
                        ]
                    ], status: .unauthorized)
            }
            return try Self.json([
                "data": [
                    "viewer": ["id": "user-lin-1", "name": "Ada Linear"],
                    "organization": ["id": self.organization.id, "name": self.organization.name, "urlKey": "acme"],
                ]
            ])
        }
        return router
    }

    private func issue() throws -> Response {
        let access = "lin_oauth_" + RandomToken.string(length: 32)
        let refresh = "lin_refresh_" + RandomToken.string(length: 32)
        accessTokens.update { _ = $0.insert(access) }
        refreshTokens.update { _ = $0.insert(refresh) }
        issued.update { $0 += [access, refresh] }
        // Linear lists scopes as an array.
        return try Self.json([
            "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": expiresIn.get(), "scope": ["read", "write", "issues:create", "comments:create"],
        ])
    }

    private func refuse(_ error: String) throws -> Response {
        refusals.update { $0.append(error) }
        return try Self.json(["error": error, "error_description": "refused by the fake"], status: .badRequest)
    }

    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 65536)
        return Dictionary(
            (URLComponents(string: "?" + String(buffer: body))?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { first, _ in first })
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))))
    }
}
