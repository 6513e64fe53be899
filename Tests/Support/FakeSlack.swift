import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// A small Slack for tests: the OAuth v2 install (`/oauth/v2/authorize` → `oauth.v2.access`,
/// with optional token rotation), `auth.test` and `auth.revoke`, under `/api` like slack.com.
public final class FakeSlack: Sendable {
    public let clientID = "slack-client-id"
    public let clientSecret = "slack-client-secret"
    public let team = (id: "T0ACME", name: "Acme Workspace")
    /// A bot token that `auth.test` accepts without an install (single-workspace mode).
    public let configuredBotToken = "xoxb-configured-" + RandomToken.string(length: 12)
    private let codes = SendableBox<[String: String]>([:])
    public let liveTokens = SendableBox<Set<String>>([])
    public let issued = SendableBox<[String]>([])
    public let revoked = SendableBox<[String]>([])
    public let refusals = SendableBox<[String]>([])
    /// Token rotation on (expiring bot tokens with refresh tokens), as an app can opt into.
    public let rotation = SendableBox(false)
    private let refreshTokens = SendableBox<Set<String>>([])
    /// Without rotation Slack has one bot token per workspace install: every user who installs
    /// the app in the workspace again gets the same one.
    private let workspaceBotToken = SendableBox<String?>(nil)
    public let refreshes = SendableBox(0)

    public init() {
        liveTokens.update { _ = $0.insert(configuredBotToken) }
    }

    public var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in "fake slack" }
        router.get("/oauth/v2/authorize") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["client_id"].map(String.init) == self.clientID, query["scope"]?.contains("chat:write") == true,
                let redirect = query["redirect_uri"].map(String.init), let state = query["state"].map(String.init)
            else { return Response(status: .badRequest) }
            let code = RandomToken.string(length: 20)
            self.codes.update { $0[code] = redirect }
            return Response(
                status: .found, headers: [.location: "\(redirect)?code=\(code)&state=\(FormEncoding.escape(state))"])
        }
        router.post("/api/oauth.v2.access") { request, _ -> Response in
            let form = try await FakeLinear.form(request)
            guard form["client_id"] == self.clientID, form["client_secret"] == self.clientSecret else {
                return try self.fail("invalid_client_id")
            }
            if form["grant_type"] == "refresh_token" {
                guard let refresh = form["refresh_token"], self.refreshTokens.update({ $0.remove(refresh) }) != nil
                else {
                    return try self.fail("invalid_refresh_token")
                }
                self.refreshes.update { $0 += 1 }
                return try self.issue()
            }
            guard let code = form["code"], let redirect = self.codes.update({ $0.removeValue(forKey: code) }),
                redirect == form["redirect_uri"]
            else {
                return try self.fail("invalid_code")
            }
            return try self.issue()
        }
        router.post("/api/auth.test") { request, _ -> Response in
            guard let token = self.bearer(request), self.liveTokens.get().contains(token) else {
                return try self.fail("invalid_auth")
            }
            return try FakeLinear.json([
                "ok": true, "url": "https://acme.slack.com/", "team": self.team.name, "team_id": self.team.id,
                "user_id": "U0BOT", "bot_id": "B0BOT",
            ])
        }
        router.post("/api/auth.revoke") { request, _ -> Response in
            guard let token = self.bearer(request), self.liveTokens.update({ $0.remove(token) }) != nil else {
                return try self.fail("invalid_auth")
            }
            self.revoked.update { $0.append(token) }
            return try FakeLinear.json(["ok": true, "revoked": true])
        }
        return router
    }

    private func issue() throws -> Response {
        let token: String
        if !rotation.get(), let existing = workspaceBotToken.get(), liveTokens.get().contains(existing) {
            token = existing
        } else {
            token = (rotation.get() ? "xoxe.xoxb-" : "xoxb-") + RandomToken.string(length: 24)
            liveTokens.update { _ = $0.insert(token) }
            issued.update { $0.append(token) }
            if !rotation.get() { workspaceBotToken.set(token) }
        }
        var body: [String: Any] = [
            "ok": true, "access_token": token, "token_type": "bot",
            "scope": "app_mentions:read,chat:write,channels:history",
            "bot_user_id": "U0BOT", "app_id": "A0APP", "team": ["id": team.id, "name": team.name],
            "enterprise": NSNull(), "authed_user": ["id": "U0HUMAN"],
        ]
        if rotation.get() {
            let refresh = "xoxe-1-" + RandomToken.string(length: 24)
            refreshTokens.update { _ = $0.insert(refresh) }
            issued.update { $0.append(refresh) }
            body["refresh_token"] = refresh
            body["expires_in"] = 43_200
        }
        return try FakeLinear.json(body)
    }

    private func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
    }

    /// Slack reports failures as HTTP 200 with `ok: false`.
    private func fail(_ error: String) throws -> Response {
        refusals.update { $0.append(error) }
        return try FakeLinear.json(["ok": false, "error": error])
    }
}
