import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// A small GitHub for the GitHub App flow: the install page (which sends the browser to the
/// App's setup URL with the installation id and, as with "Request user authorization (OAuth)
/// during installation", a code), the App's OAuth token endpoint and `GET /user/installations`
/// for the installing user, and the REST endpoints that take an App JWT — checked as GitHub
/// checks it (RS256 under the App's key, `iss` = app id, at most 10 minutes, unexpired) — plus
/// installation-token minting and revocation.
public final class FakeGitHubApp: Sendable {
    public let appID = "424242"
    public let appName = "connectors-test"
    public let installationID = "9001"
    public let account = "acme-org"
    public let privateKey: _RSA.Signing.PrivateKey
    /// The App's "Setup URL", where GitHub sends the browser after an install.
    public let setupURL: String
    public let liveTokens = SendableBox<Set<String>>([])
    public let issued = SendableBox<[String]>([])
    public let revoked = SendableBox<[String]>([])
    /// App JWTs that were refused, and why.
    public let refusals = SendableBox<[String]>([])
    /// `expires_at` of minted tokens, from now.
    public let tokenLifetime = SendableBox<TimeInterval>(3600)
    public let clientID = "Iv1.fakeappclient"
    public let clientSecret = "fake-app-client-secret"
    /// The installations the next installing user can access (GitHub's `/user/installations`).
    public let userInstallations: SendableBox<[String]>
    /// What `GET /app/installations/:id` says of each installation: `live` or `suspended`;
    /// one not here is 404 (uninstalled).
    public let installationStates: SendableBox<[String: String]>
    private let codes = SendableBox<[String: [String]]>([:])
    private let userTokens = SendableBox<[String: [String]]>([:])
    /// User access tokens issued (code exchanges and refreshes), in order.
    public let userTokensIssued = SendableBox<[String]>([])
    /// Refresh tokens still valid (GitHub rotates them: each works once), and refreshes made.
    private let refreshTokens = SendableBox<[String: [String]]>([:])
    public let refreshes = SendableBox(0)
    /// User tokens revoked through `DELETE /applications/{client_id}/token`.
    public let revokedUserTokens = SendableBox<[String]>([])
    /// The installing user (GitHub's `GET /user`).
    public let userID = 583231
    public let userLogin = "octo-ada"

    public init(setupURL: String) throws {
        self.setupURL = setupURL
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        self.userInstallations = SendableBox([installationID])
        self.installationStates = SendableBox([installationID: "live"])
    }

    /// An OAuth code for a user who can access `installations`, as the install page would give.
    public func code(forUserWith installations: [String]) -> String {
        let code = RandomToken.string(length: 20)
        codes.update { $0[code] = installations }
        return code
    }

    public var privateKeyPEM: String { privateKey.pemRepresentation }

    public var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in "fake github app" }
        router.get("/apps/:name/installations/new") { request, context -> Response in
            guard context.parameters.get("name") == self.appName,
                let state = request.uri.queryParameters["state"].map(String.init)
            else {
                return Response(status: .notFound)
            }
            let code = self.code(forUserWith: self.userInstallations.get())
            return Response(
                status: .found,
                headers: [
                    .location:
                        "\(self.setupURL)?code=\(code)&installation_id=\(self.installationID)&setup_action=install&state=\(FormEncoding.escape(state))"
                ])
        }
        router.post("/login/oauth/access_token") { request, _ -> Response in
            let form = try await FakeLinear.form(request)
            guard request.headers[.accept] == "application/json" else { return Response(status: .notAcceptable) }
            guard form["client_id"] == self.clientID, form["client_secret"] == self.clientSecret else {
                return try FakeLinear.json(["error": "incorrect_client_credentials"])
            }
            let installations: [String]
            if form["grant_type"] == "refresh_token" {
                let found = self.refreshTokens.update { tokens in
                    form["refresh_token"].flatMap { tokens.removeValue(forKey: $0) }
                }
                guard let found else { return try FakeLinear.json(["error": "bad_refresh_token"]) }
                self.refreshes.update { $0 += 1 }
                installations = found
            } else {
                let found = self.codes.update { codes in form["code"].flatMap { codes.removeValue(forKey: $0) } }
                guard let found else { return try FakeLinear.json(["error": "bad_verification_code"]) }
                installations = found
            }
            // Expiring user tokens (GitHub's default for Apps): 8 hours, and a 6-month refresh token.
            let token = "ghu_" + RandomToken.string(length: 36)
            let refresh = "ghr_" + RandomToken.string(length: 36)
            self.userTokens.update { $0[token] = installations }
            self.refreshTokens.update { $0[refresh] = installations }
            self.userTokensIssued.update { $0.append(token) }
            return try FakeLinear.json([
                "access_token": token, "token_type": "bearer", "scope": "", "expires_in": 28800,
                "refresh_token": refresh, "refresh_token_expires_in": 15_897_600,
            ])
        }
        router.get("/user") { request, _ -> Response in
            guard let token = request.headers[.authorization].map({ String($0.dropFirst(7)) }),
                self.userTokens.get()[token] != nil
            else { return Response(status: .unauthorized) }
            return try FakeLinear.json(["id": self.userID, "login": self.userLogin])
        }
        router.delete("/applications/:client/token") { request, context -> Response in
            let basic = "Basic " + Data("\(self.clientID):\(self.clientSecret)".utf8).base64EncodedString()
            guard context.parameters.get("client") == self.clientID, request.headers[.authorization] == basic else {
                return Response(status: .unauthorized)
            }
            let bytes = try await request.body.collect(upTo: 1 << 16)
            let body = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
            guard let token = body?["access_token"] as? String,
                self.userTokens.update({ $0.removeValue(forKey: token) }) != nil
            else { return Response(status: .notFound) }
            self.revokedUserTokens.update { $0.append(token) }
            return Response(status: .noContent)
        }
        router.get("/user/installations") { request, _ -> Response in
            guard request.headers[.accept] == "application/vnd.github+json",
                let token = request.headers[.authorization].map({ String($0.dropFirst(7)) }),
                let installations = self.userTokens.get()[token]
            else { return Response(status: .unauthorized) }
            let page = Int(request.uri.queryParameters["page"].map(String.init) ?? "1") ?? 1
            let perPage = Int(request.uri.queryParameters["per_page"].map(String.init) ?? "30") ?? 30
            let slice = installations.dropFirst((page - 1) * perPage).prefix(perPage)
            return try FakeLinear.json([
                "total_count": installations.count,
                "installations": slice.map { ["id": Int($0)!, "app_id": Int(self.appID)!] as [String: Any] },
            ])
        }
        router.get("/app/installations/:id") { request, context -> Response in
            guard self.appJWTIsValid(request) else { return Response(status: .unauthorized) }
            guard let id = context.parameters.get("id"), let state = self.installationStates.get()[id] else {
                return try FakeLinear.json(["message": "Not Found"], status: .notFound)
            }
            return try FakeLinear.json([
                "id": Int(id)!, "app_id": Int(self.appID)!,
                "account": ["login": self.account, "id": 77, "type": "Organization"],
                "permissions": ["issues": "write", "contents": "read"],
                "suspended_at": state == "suspended" ? "2026-12-01T10:00:00Z" : NSNull(),
            ])
        }
        router.post("/app/installations/:id/access_tokens") { request, context -> Response in
            guard self.appJWTIsValid(request) else { return Response(status: .unauthorized) }
            guard context.parameters.get("id") == self.installationID else {
                return try FakeLinear.json(["message": "Not Found"], status: .notFound)
            }
            let token = "ghs_" + RandomToken.string(length: 36)
            self.liveTokens.update { _ = $0.insert(token) }
            self.issued.update { $0.append(token) }
            let expiresAt = Date().addingTimeInterval(self.tokenLifetime.get()).formatted(.iso8601)
            return try FakeLinear.json(
                ["token": token, "expires_at": expiresAt, "permissions": ["issues": "write", "contents": "read"]],
                status: .created)
        }
        router.delete("/installation/token") { request, _ -> Response in
            guard let token = request.headers[.authorization].map({ String($0.dropFirst(7)) }),
                self.liveTokens.update({ $0.remove(token) }) != nil
            else {
                return Response(status: .unauthorized)
            }
            self.revoked.update { $0.append(token) }
            return Response(status: .noContent)
        }
        return router
    }

    private func appJWTIsValid(_ request: Request) -> Bool {
        guard request.headers[.accept] == "application/vnd.github+json" else { return refuse("accept header") }
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") else {
            return refuse("no bearer")
        }
        let parts = authorization.dropFirst(7).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let header = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]),
            let headerJSON = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        else { return refuse("malformed") }
        guard headerJSON["alg"] as? String == "RS256" else { return refuse("alg") }
        let valid = privateKey.publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature),
            for: SHA256.hash(data: Array((parts[0] + "." + parts[1]).utf8)),
            padding: .insecurePKCS1v1_5)
        guard valid else { return refuse("signature") }
        let now = Int(Date().timeIntervalSince1970)
        guard claims["iss"] as? Int == Int(appID), let iat = claims["iat"] as? Int, let exp = claims["exp"] as? Int,
            exp > now, iat <= now + 60, exp - iat <= 600
        else { return refuse("claims") }
        return true
    }

    private func refuse(_ reason: String) -> Bool {
        refusals.update { $0.append(reason) }
        return false
    }
}
