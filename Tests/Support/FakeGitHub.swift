import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// A small GitHub for tests: the OAuth web flow (authorize → code → token, with the PKCE
/// S256 check GitHub performs) and the `/user` and `/user/emails` REST endpoints.
public final class FakeGitHub: Sendable {
    public struct Email: Sendable {
        public var email: String
        public var primary: Bool
        public var verified: Bool
        public init(_ email: String, primary: Bool = true, verified: Bool = true) {
            self.email = email
            self.primary = primary
            self.verified = verified
        }
    }

    public struct Account: Sendable {
        public var id: Int64
        public var login: String
        public var name: String?
        public var emails: [Email]
        public init(id: Int64, login: String, name: String?, emails: [Email]) {
            self.id = id
            self.login = login
            self.name = name
            self.emails = emails
        }
    }

    struct Grant: Sendable {
        let challenge: String
        let redirectURI: String
        let account: Account
    }

    public let clientID = "gh-client-id"
    public let clientSecret = "gh-client-secret"
    public let account: SendableBox<Account>
    private let grants = SendableBox<[String: Grant]>([:])
    private let tokens = SendableBox<[String: Account]>([:])
    /// Token requests that were refused, with GitHub's error code.
    public let refusals = SendableBox<[String]>([])
    /// When set, `/user/emails` answers 404 as GitHub does for a token without `user:email`.
    public let emailsUnavailable = SendableBox<Bool>(false)

    public init(account: Account) {
        self.account = SendableBox(account)
    }

    public var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in "fake github" }
        router.get("/login/oauth/authorize") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["client_id"].map(String.init) == self.clientID, query["code_challenge_method"] == "S256",
                let challenge = query["code_challenge"].map(String.init),
                let redirect = query["redirect_uri"].map(String.init),
                let state = query["state"].map(String.init)
            else { return Response(status: .badRequest) }
            let code = RandomToken.string(length: 20)
            self.grants.update {
                $0[code] = Grant(challenge: challenge, redirectURI: redirect, account: self.account.get())
            }
            return Response(
                status: .found, headers: [.location: "\(redirect)?code=\(code)&state=\(FormEncoding.escape(state))"])
        }
        router.post("/login/oauth/access_token") { request, _ -> Response in
            let form = try await FakeLinear.form(request)
            guard request.headers[.accept] == "application/json" else { return Response(status: .notAcceptable) }
            let grant = self.grants.update { grants in form["code"].flatMap { grants.removeValue(forKey: $0) } }
            let error: String?
            if form["client_id"] != self.clientID || form["client_secret"] != self.clientSecret {
                error = "incorrect_client_credentials"
            } else if let grant, grant.redirectURI == form["redirect_uri"] {
                let computed = Base64URL.encode(SHA256.hash(data: Array((form["code_verifier"] ?? "").utf8)))
                error = computed == grant.challenge ? nil : "bad_verification_code"
            } else {
                error = "bad_verification_code"
            }
            if let error {
                self.refusals.update { $0.append(error) }
                return try Self.json(["error": error])
            }
            let token = "gho_" + RandomToken.string(length: 30)
            self.tokens.update { $0[token] = grant!.account }
            return try Self.json(["access_token": token, "token_type": "bearer", "scope": "read:user,user:email"])
        }
        router.get("/user") { request, _ -> Response in
            guard let account = self.account(for: request) else { return Response(status: .unauthorized) }
            var profile: [String: Any] = [
                "id": account.id, "login": account.login, "avatar_url": "https://avatars.example/\(account.id)",
            ]
            profile["name"] = account.name ?? NSNull()
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: profile))))
        }
        router.get("/user/emails") { request, _ -> Response in
            guard let account = self.account(for: request) else { return Response(status: .unauthorized) }
            if self.emailsUnavailable.get() {
                return Response(
                    status: .notFound, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"message":"Not Found","status":"404"}"#)))
            }
            let emails = account.emails.map {
                ["email": $0.email, "primary": $0.primary, "verified": $0.verified, "visibility": "private"]
                    as [String: Any]
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: emails))))
        }
        return router
    }

    private func account(for request: Request) -> Account? {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") else {
            return nil
        }
        return tokens.get()[String(authorization.dropFirst(7))]
    }

    static func json(_ object: [String: String]) throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))))
    }
}
