import DB
import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import AuthService

/// The OAuth 2.1 authorization server for MCP clients: registration, authorization with PKCE,
/// consent, tokens, rotation, revocation — and the attacks each step must refuse.
@Suite struct OAuthProviderTests {
    static let issuer = "https://connectors.test"
    static let resource = issuer + "/mcp"
    static let redirect = "http://127.0.0.1:33418/callback"
    static let origin: HTTPFields = [.origin: trustedOrigin]

    /// One person's browser and one MCP client, as the tests drive them.
    struct Flow {
        let client: any TestClientProtocol
        let cookie: String
        let clientId: String
        let verifier = RandomToken.string(length: 64)
        var challenge: String { Base64URL.encode(SHA256.hash(data: Array(verifier.utf8))) }

        func authorizeQuery(
            scope: String = "connectors:read connectors:write offline_access",
            redirect: String = OAuthProviderTests.redirect,
            resource: String = OAuthProviderTests.resource, extra: [(String, String)] = []
        ) -> String {
            SignedOAuthQuery.encode(
                [
                    ("response_type", "code"), ("client_id", clientId), ("redirect_uri", redirect), ("scope", scope),
                    ("state", "st-123"), ("code_challenge", challenge), ("code_challenge_method", "S256"),
                    ("resource", resource),
                ] + extra)
        }

        /// `GET /oauth2/authorize` in the browser; the `Location` it answers.
        func authorize(_ query: String, signedIn: Bool = true) async throws -> String {
            let response = try await client.execute(
                uri: "/api/auth/oauth2/authorize?" + query, method: .get, headers: signedIn ? [.cookie: cookie] : [:])
            #expect(response.status == .found)
            return try #require(response.headers[.location])
        }

        /// Consents on the page the browser was sent to; the URL the answer names.
        func consent(at consentURL: String, accept: Bool = true, scope: String? = nil) async throws -> String {
            let signed = try #require(consentURL.split(separator: "?", maxSplits: 1).last.map(String.init))
            let scopeField = scope.map { #","scope":"\#($0)""# } ?? ""
            let response = try await client.post(
                "/api/auth/oauth2/consent", #"{"accept":\#(accept)\#(scopeField),"oauth_query":"\#(signed)"}"#,
                headers: [.cookie: cookie, .origin: trustedOrigin])
            #expect(response.status == .ok)
            return try #require(OAuthProviderTests.json(response)["url"] as? String)
        }

        /// Authorizes with consent and returns the code.
        func code(scope: String = "connectors:read connectors:write offline_access") async throws -> String {
            let next = try await authorize(authorizeQuery(scope: scope))
            // Consent is asked once; after that the browser goes straight back with a code.
            let url = next.hasPrefix(OAuthProviderTests.redirect) ? next : try await consent(at: next)
            return try #require(OAuthProviderTests.query(url)["code"])
        }

        func token(_ fields: [(String, String)]) async throws -> TestResponse {
            try await client.execute(
                uri: "/api/auth/oauth2/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: SignedOAuthQuery.encode(fields + [("client_id", clientId)])))
        }

        func exchange(_ code: String, verifier: String? = nil) async throws -> TestResponse {
            try await token([
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthProviderTests.redirect),
                ("code_verifier", verifier ?? self.verifier), ("resource", OAuthProviderTests.resource),
            ])
        }

        func refresh(_ refreshToken: String) async throws -> TestResponse {
            try await token([
                ("grant_type", "refresh_token"), ("refresh_token", refreshToken),
                ("resource", OAuthProviderTests.resource),
            ])
        }
    }

    static func register(_ client: any TestClientProtocol, _ body: String) async throws -> TestResponse {
        try await client.post("/api/auth/oauth2/register", body)
    }

    static func flow(_ client: any TestClientProtocol, email: String = "ada@example.com") async throws -> Flow {
        let registered = try await register(
            client, #"{"client_name":"Test MCP client","redirect_uris":["\#(redirect)"]}"#)
        #expect(registered.status == .created)
        let clientId = try #require(json(registered)["client_id"] as? String)
        let cookie = try #require(
            try await client.signUp(email: email).cookiePair("__Secure-better-auth.session_token"))
        return Flow(client: client, cookie: cookie, clientId: clientId)
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    static func query(_ url: String) -> [String: String] {
        let pairs = FormEncoding.pairs(String(url.split(separator: "?", maxSplits: 1).last ?? ""))
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Discovery and registration

    @Test func metadataNamesEveryEndpointAndWhatIsSupported() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=15")
                let document = try Self.json(response)
                #expect(document["issuer"] as? String == Self.issuer)
                #expect(document["authorization_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/authorize")
                #expect(document["token_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/token")
                #expect(document["registration_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/register")
                #expect(document["revocation_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/revoke")
                #expect(document["introspection_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/introspect")
                #expect(document["userinfo_endpoint"] as? String == Self.issuer + "/api/auth/oauth2/userinfo")
                #expect(document["code_challenge_methods_supported"] as? [String] == ["S256"])
                #expect(document["response_types_supported"] as? [String] == ["code"])
                #expect(document["grant_types_supported"] as? [String] == ["authorization_code", "refresh_token"])
                #expect((document["token_endpoint_auth_methods_supported"] as? [String])?.contains("none") == true)
                #expect(document["authorization_response_iss_parameter_supported"] as? Bool == true)
                #expect(
                    document["scopes_supported"] as? [String]
                        == ["openid", "profile", "email", "offline_access", "connectors:read", "connectors:write"])
            }
        }
    }

    /// A metadata document is fetched from the address that was checked. AsyncHTTPClient looks
    /// the override up under the host as the URL writes it; keyed under another spelling (the
    /// lower-cased name the check used), a mixed-case client_id would be resolved a second time,
    /// which a rebinding name can answer with an inward address.
    @Test func aMetadataDocumentFetchIsPinnedUnderTheHostAsTheHTTPClientReadsIt() throws {
        for url in ["https://Rebind.Attacker.EXAMPLE/client.json", "https://client.example:8443/oauth/client.json"] {
            let pin = ClientMetadataDocuments.pin(url, to: "203.0.113.7")
            #expect(pin[try HTTPClient.Request(url: url).host] == "203.0.113.7", "\(url)")
        }
        #expect(
            ClientMetadataDocuments.pin("https://Rebind.Attacker.EXAMPLE/c.json", to: "203.0.113.7").keys.first
                == "Rebind.Attacker.EXAMPLE")
    }

    @Test func registrationAcceptsPublicClientsAndRefusesUnsafeRedirects() async throws {
        let app = try await AuthTestApp.make(configure: { $0.oauth.registrationLimit.limit = 100 })
        try await app.test { client in
            let registered = try await Self.register(
                client, #"{"client_name":"Claude","redirect_uris":["http://localhost:6274/cb","http://127.0.0.1/cb"]}"#)
            #expect(registered.status == .created)
            #expect(registered.headers[.cacheControl] == "no-store")
            let body = try Self.json(registered)
            // All-loopback redirects without application_type: a native app.
            #expect(body["application_type"] as? String == "native")
            #expect(body["token_endpoint_auth_method"] as? String == "none")
            #expect(body["client_secret"] == nil)
            #expect((body["client_id"] as? String)?.count == 32)
            #expect(body["redirect_uris"] as? [String] == ["http://localhost:6274/cb", "http://127.0.0.1/cb"])

            let web = try await Self.register(client, #"{"redirect_uris":["https://app.example/cb"]}"#)
            #expect(try Self.json(web)["application_type"] as? String == "web")

            for (body, error) in [
                (#"{"redirect_uris":["http://app.example/cb"]}"#, "invalid_redirect_uri"),
                (#"{"redirect_uris":["https://app.example/cb#frag"]}"#, "invalid_redirect_uri"),
                (#"{"redirect_uris":["https://user:pw@app.example/cb"]}"#, "invalid_redirect_uri"),
                (#"{"redirect_uris":["javascript:alert(1)"]}"#, "invalid_redirect_uri"),
                (#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
                (#"{"client_name":"x"}"#, "invalid_redirect_uri"),
                (
                    #"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}"#,
                    "invalid_client_metadata"
                ),
                (
                    #"{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}"#,
                    "invalid_client_metadata"
                ),
                (#"{"redirect_uris":["https://a.example/cb"],"scope":"admin"}"#, "invalid_scope"),
                (#"{"redirect_uris":"https://a.example/cb"}"#, "invalid_client_metadata"),
            ] {
                let refused = try await Self.register(client, body)
                #expect(refused.status == .badRequest, "\(body)")
                #expect(try Self.json(refused)["error"] as? String == error, "\(body)")
            }
            // A body that is not JSON, or too large, keeps its own status, in OAuth's error shape.
            let plain = try await client.execute(
                uri: "/api/auth/oauth2/register", method: .post, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://a.example/cb"]}"#))
            #expect(plain.status == .unsupportedMediaType)
            #expect(try Self.json(plain)["error"] as? String == "invalid_request")
            let padding = String(repeating: "x", count: 100_000)
            let large = try await Self.register(
                client, #"{"redirect_uris":["https://a.example/cb"],"client_name":"\#(padding)"}"#)
            #expect(large.status == .contentTooLarge)
            #expect(try Self.json(large)["error"] as? String == "invalid_request")
            let count = try await app.sql { postgres in
                try await postgres.query(#"SELECT count(*)::int FROM "oauthClient""#).collect().first?.decode(Int.self)
            }
            #expect(count == 2)
        }
    }

    @Test func registrationIsLimitedPerAddress() async throws {
        let app = try await AuthTestApp.make(configure: { $0.oauth.registrationLimit.limit = 2 })
        try await app.test { client in
            let body = #"{"redirect_uris":["http://127.0.0.1/cb"]}"#
            #expect(try await Self.register(client, body).status == .created)
            #expect(try await Self.register(client, body).status == .created)
            let refused = try await Self.register(client, body)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] != nil)
        }
    }

    @Test func registrationCanBeTurnedOff() async throws {
        let app = try await AuthTestApp.make(overrides: ["OAUTH_DYNAMIC_REGISTRATION": "false"])
        try await app.test { client in
            let refused = try await Self.register(client, #"{"redirect_uris":["http://127.0.0.1/cb"]}"#)
            #expect(refused.status == .forbidden)
            #expect(try Self.json(refused)["error"] as? String == "access_denied")
            let metadata = try Self.json(
                try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get))
            #expect(metadata["registration_endpoint"] == nil)
        }
    }

    // MARK: The whole flow

    @Test func signInConsentAndTokensForTheMCPResource() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            var flow = try await Self.flow(client)
            // Not signed in: to the console's sign-in, carrying the signed request.
            let signIn = try await flow.authorize(flow.authorizeQuery(), signedIn: false)
            #expect(signIn.hasPrefix(Self.issuer + "/sign-in?"))
            let signed = String(signIn.split(separator: "?", maxSplits: 1)[1])
            let resumed = try await client.signIn(extra: #","oauth_query":"\#(signed)""#)
            #expect(resumed.status == .ok)
            let resumedBody = try Self.json(resumed)
            #expect(resumedBody["redirect"] as? Bool == true)
            let consentURL = try #require(resumedBody["url"] as? String)
            #expect(consentURL.hasPrefix(Self.issuer + "/consent?"))
            flow = Flow(
                client: client, cookie: try #require(resumed.cookiePair("__Secure-better-auth.session_token")),
                clientId: flow.clientId)

            // The consent page's data.
            let publicClient = try await client.execute(
                uri: "/api/auth/oauth2/public-client?client_id=\(flow.clientId)", method: .get,
                headers: [.cookie: flow.cookie])
            #expect(try Self.json(publicClient)["client_name"] as? String == "Test MCP client")

            // The consent was for a different verifier (new flow object); start over properly.
            let url = try await flow.consent(at: try await flow.authorize(flow.authorizeQuery()))
            let answer = Self.query(url)
            #expect(url.hasPrefix(Self.redirect + "?"))
            #expect(answer["state"] == "st-123")
            #expect(answer["iss"] == Self.issuer)
            let code = try #require(answer["code"])

            let exchanged = try await flow.exchange(code)
            #expect(exchanged.status == .ok)
            #expect(exchanged.headers[.cacheControl] == "no-store")
            let tokens = try Self.json(exchanged)
            #expect(tokens["token_type"] as? String == "Bearer")
            #expect(tokens["expires_in"] as? Int == 3600)
            #expect(tokens["scope"] as? String == "connectors:read connectors:write offline_access")
            let accessToken = try #require(tokens["access_token"] as? String)
            #expect((tokens["refresh_token"] as? String)?.count == 32)

            // Checked by an independent implementation against the published keys.
            let jwks = try await client.execute(uri: "/api/auth/jwks", method: .get)
            let verified = try #require(
                try await PyJWT.verify(
                    token: accessToken, jwks: Data(jwks.body.readableBytesView), audience: Self.resource,
                    issuer: Self.issuer))
            #expect(verified.header["typ"] as? String == "at+jwt")
            #expect(verified.claims["client_id"] as? String == flow.clientId)
            #expect(verified.claims["azp"] as? String == flow.clientId)
            #expect(verified.claims["scope"] as? String == "connectors:read connectors:write offline_access")
            #expect((verified.claims["sid"] as? String)?.isEmpty == false)
            #expect((verified.claims["jti"] as? String)?.isEmpty == false)
            let lifetime = (verified.claims["exp"] as? Int ?? 0) - (verified.claims["iat"] as? Int ?? 0)
            #expect(lifetime == 3600)

            // A loopback redirect could be any program on the computer: consent is asked every time.
            let again = try await flow.authorize(flow.authorizeQuery())
            #expect(again.hasPrefix(Self.issuer + "/consent?"))

            // The console lists the app; removing it ends the refresh token.
            let apps = try await client.execute(
                uri: "/api/auth/oauth2/get-consents", method: .get, headers: [.cookie: flow.cookie])
            let list = try #require(
                try JSONSerialization.jsonObject(with: Data(apps.body.readableBytesView)) as? [[String: Any]])
            #expect(list.count == 1)
            #expect(list.first?["name"] as? String == "Test MCP client")
            let removed = try await client.post(
                "/api/auth/oauth2/delete-consent", #"{"id":"\#(list[0]["id"] as? String ?? "")"}"#,
                headers: [.cookie: flow.cookie, .origin: trustedOrigin])
            #expect(removed.status == .ok)
            let refreshed = try await flow.refresh(try #require(tokens["refresh_token"] as? String))
            #expect(refreshed.status == .badRequest)
            #expect(try Self.json(refreshed)["error"] as? String == "invalid_grant")
            let revocations = try await app.sql { postgres in
                try await postgres.query(
                    #"SELECT "clientId", "grantId" FROM "oauthGrantRevocation""#
                ).collect().map { try $0.decode((String, String?).self) }
            }
            #expect(revocations.count == 1)
            #expect(revocations.first?.0 == flow.clientId)
            // The grant and its removal are on the person's audit trail.
            let audited = try await app.sql { postgres in
                try await postgres.query(
                    #"SELECT "action", "clientId", coalesce("inputSummary", '') FROM "auditEvent" ORDER BY "id""#
                ).collect().map { try $0.decode((String, String, String).self) }
            }
            #expect(audited.map(\.0) == ["oauth.consent_granted", "oauth.grant_issued", "oauth.consent_revoked"])
            #expect(audited.allSatisfy { $0.1 == flow.clientId })
            #expect(audited.first?.2.contains("connectors:read") == true)
        }
    }

    @Test func aLoopbackRedirectMatchesOnAnyPortButNothingElseDiffers() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let otherPort = try await flow.authorize(flow.authorizeQuery(redirect: "http://127.0.0.1:50123/callback"))
            #expect(otherPort.hasPrefix(Self.issuer + "/consent?"))
            for wrong in [
                "http://127.0.0.1:33418/other", "http://127.0.0.2:33418/callback", "https://127.0.0.1:33418/callback",
                "https://evil.example/callback", "http://127.0.0.1:33418/callback?x=1",
            ] {
                let location = try await flow.authorize(flow.authorizeQuery(redirect: wrong))
                // Never sent to an unverified redirect: the console's error page instead.
                #expect(location.hasPrefix(Self.issuer + "/oauth-error?error=invalid_redirect"), "\(wrong)")
            }
        }
    }

    @Test func requestErrorsGoBackToTheClientWithStateAndIssuer() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let cases: [(String, String)] = [
                (flow.authorizeQuery(resource: "https://evil.example/mcp"), "invalid_target"),
                (flow.authorizeQuery(scope: "connectors:admin"), "invalid_scope"),
                (
                    flow.authorizeQuery().replacingOccurrences(
                        of: "code_challenge_method=S256", with: "code_challenge_method=plain"),
                    "invalid_request"
                ),
                (
                    flow.authorizeQuery().replacingOccurrences(of: "response_type=code", with: "response_type=token"),
                    "unsupported_response_type"
                ),
            ]
            for (query, error) in cases {
                let location = try await flow.authorize(query)
                let fields = Self.query(location)
                #expect(location.hasPrefix(Self.redirect + "?"), "\(error)")
                #expect(fields["error"] == error)
                #expect(fields["state"] == "st-123")
                #expect(fields["iss"] == Self.issuer)
            }
            let withoutPKCE = flow.authorizeQuery().split(separator: "&").filter { !$0.hasPrefix("code_challenge") }
                .joined(separator: "&")
            #expect(Self.query(try await flow.authorize(withoutPKCE))["error"] == "invalid_request")
            let codes = try await app.sql { postgres in
                try await postgres.query(#"SELECT count(*)::int FROM "verification""#).collect().first?.decode(Int.self)
            }
            #expect(codes == 0)
        }
    }

    // MARK: Attacks on the code

    @Test func aWrongVerifierBurnsTheCodeAndAReusedCodeRevokesWhatItIssued() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let burnt = try await flow.code()
            let wrong = try await flow.exchange(burnt, verifier: RandomToken.string(length: 64))
            #expect(wrong.status == .badRequest)
            #expect(try Self.json(wrong)["error"] as? String == "invalid_grant")
            #expect(try await flow.exchange(burnt).status == .badRequest)

            let code = try await flow.code()
            let first = try Self.json(try await flow.exchange(code))
            let refreshToken = try #require(first["refresh_token"] as? String)
            let replay = try await flow.exchange(code)
            #expect(replay.status == .badRequest)
            #expect(try Self.json(replay)["error"] as? String == "invalid_grant")
            // What the code issued no longer works.
            #expect(try await flow.refresh(refreshToken).status == .badRequest)
            let revoked = try await app.sql { postgres in
                try await postgres.query(#"SELECT "grantId" FROM "oauthGrantRevocation""#).collect()
                    .map { try $0.decode(String?.self) }
            }
            // Both codes were presented twice (the burnt one after its failure): both grants are revoked.
            #expect(Set(revoked) == [OAuthHash.of(burnt), OAuthHash.of(code)])
            // And so says the person's audit trail: one grant issued, two ended by their codes' replay.
            let audited = try await app.sql { postgres in
                try await postgres.query(
                    #"SELECT "action", coalesce("inputSummary", ''), "actor" FROM "auditEvent" WHERE "action" LIKE 'oauth.grant_%' ORDER BY "id""#
                ).collect().map { try $0.decode((String, String, String).self) }
            }
            #expect(audited.map(\.0) == ["oauth.grant_revoked", "oauth.grant_issued", "oauth.grant_revoked"])
            #expect(
                audited.filter { $0.0 == "oauth.grant_revoked" }.allSatisfy {
                    $0.1.contains("presented again") && $0.2 == "system"
                })
        }
    }

    @Test func theTokenRequestMustRepeatTheRedirectAndResource() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let code = try await flow.code()
            let otherRedirect = try await flow.token([
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "http://127.0.0.1:1/other"),
                ("code_verifier", flow.verifier),
            ])
            #expect(try Self.json(otherRedirect)["error"] as? String == "invalid_grant")
            let second = try await flow.code()
            let foreign = try await flow.token([
                ("grant_type", "authorization_code"), ("code", second), ("redirect_uri", Self.redirect),
                ("code_verifier", flow.verifier), ("resource", "https://evil.example/mcp"),
            ])
            #expect(try Self.json(foreign)["error"] as? String == "invalid_target")
            let duplicated = try await flow.token([
                ("grant_type", "authorization_code"), ("grant_type", "refresh_token"),
            ])
            #expect(try Self.json(duplicated)["error"] as? String == "invalid_request")
            let unknown = try await flow.token([("grant_type", "password")])
            #expect(try Self.json(unknown)["error"] as? String == "unsupported_grant_type")
            let refreshTokens = try await app.sql { postgres in
                try await postgres.query(#"SELECT count(*)::int FROM "oauthRefreshToken""#).collect().first?.decode(
                    Int.self)
            }
            #expect(refreshTokens == 0)
        }
    }

    // MARK: Refresh rotation

    @Test func refreshTokensRotateARaceGetsTheSameAnswerAndALateReplayRevokesTheFamily() async throws {
        // The default 30-second window: the raced request below has all of it on a busy machine.
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let first = try Self.json(try await flow.exchange(try await flow.code()))
            let original = try #require(first["refresh_token"] as? String)
            let rotated = try Self.json(try await flow.refresh(original))
            let next = try #require(rotated["refresh_token"] as? String)
            #expect(next != original)
            // The same request again within the window (a client racing itself): the same answer.
            let raced = try Self.json(try await flow.refresh(original))
            #expect(raced["refresh_token"] as? String == next)
            #expect(raced["access_token"] as? String == rotated["access_token"] as? String)

            // The window has passed (set in the row rather than waited for).
            try await app.sql { postgres in
                try await postgres.query(
                    #"UPDATE "oauthRefreshToken" SET "rotationReplayExpiresAt" = now() - interval '1 second' WHERE "revoked" IS NOT NULL"#
                )
            }
            let late = try await flow.refresh(original)
            #expect(late.status == .badRequest)
            #expect(try Self.json(late)["error"] as? String == "invalid_grant")
            // The whole family is gone: the newest token too.
            #expect(try await flow.refresh(next).status == .badRequest)
        }
    }

    // MARK: Attacks on consent

    @Test func consentRefusesATamperedOrExpiredQueryAndAForeignOrigin() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let consentURL = try await flow.authorize(flow.authorizeQuery(scope: "connectors:read"))
            let signed = String(consentURL.split(separator: "?", maxSplits: 1)[1])
            let tampered = signed.replacingOccurrences(of: "scope=connectors%3Aread", with: "scope=connectors%3Awrite")
            #expect(tampered != signed)
            let expired = SignedOAuthQuery(secret: TestConfig.betterAuthSecret).sign(
                FormEncoding.pairs(flow.authorizeQuery()), now: Date().addingTimeInterval(-3600))
            for query in [tampered, expired, "client_id=\(flow.clientId)"] {
                let response = try await client.post(
                    "/api/auth/oauth2/consent", #"{"accept":true,"oauth_query":"\#(query)"}"#,
                    headers: [.cookie: flow.cookie, .origin: trustedOrigin])
                #expect(response.status == .badRequest)
                #expect(try Self.json(response)["error"] as? String == "invalid_signature")
            }
            let crossOrigin = try await client.post(
                "/api/auth/oauth2/consent", #"{"accept":true,"oauth_query":"\#(signed)"}"#,
                headers: [.cookie: flow.cookie, .origin: "https://evil.example"])
            #expect(crossOrigin.status == .forbidden)
            // A scope beyond what was asked cannot be slipped into the answer.
            let widened = try await client.post(
                "/api/auth/oauth2/consent", #"{"accept":true,"scope":"connectors:write","oauth_query":"\#(signed)"}"#,
                headers: [.cookie: flow.cookie, .origin: trustedOrigin])
            #expect(widened.status == .badRequest)
            let (consents, codes) = try await app.sql { postgres in
                (
                    try await postgres.query(#"SELECT count(*)::int FROM "oauthConsent""#).collect().first?.decode(
                        Int.self),
                    try await postgres.query(#"SELECT count(*)::int FROM "verification""#).collect().first?.decode(
                        Int.self)
                )
            }
            #expect(consents == 0)
            #expect(codes == 0)
            // Declining sends the client access_denied.
            let declined = try await flow.consent(at: consentURL, accept: false)
            #expect(Self.query(declined)["error"] == "access_denied")
            #expect(Self.query(declined)["iss"] == Self.issuer)
        }
    }

    @Test func aSignInWithABadOAuthQueryStartsNoSession() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            _ = try await client.signUp()
            let response = try await client.signIn(extra: #","oauth_query":"client_id=x&sig=AAAA""#)
            #expect(response.status == .badRequest)
            #expect(try Self.json(response)["error"] as? String == "invalid_signature")
            #expect(response.setCookie("__Secure-better-auth.session_token") == nil)
        }
    }

    @Test func theSignedQueryMatchesBetterAuthsCanonicalForm() {
        let signer = SignedOAuthQuery(secret: "secret-secret-secret-secret-secret")
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let signed = signer.sign([("scope", "openid profile"), ("client_id", "abc")], now: now)
        let pairs = FormEncoding.pairs(signed)
        // ba_param lists every name (itself too), sorted; the signature covers the sorted pairs.
        #expect(pairs.filter { $0.0 == "ba_param" }.map(\.1) == ["ba_iat", "ba_param", "client_id", "exp", "scope"])
        let canonical =
            "ba_iat=1767225600000&ba_param=ba_iat&ba_param=ba_param&ba_param=client_id&ba_param=exp&ba_param=scope"
            + "&client_id=abc&exp=1767226200&scope=openid+profile"
        let expected = HMACSigner(secret: "secret-secret-secret-secret-secret").sha256Base64(canonical)
        #expect(pairs.last?.0 == "sig")
        #expect(pairs.last?.1 == expected)
        #expect(signer.verify(signed, now: now)?.map(\.0) == ["scope", "client_id"])
        #expect(signer.verify(signed, now: now.addingTimeInterval(601)) == nil)
    }

    // MARK: Revocation, introspection, userinfo, upkeep

    @Test func aClientRevokesItsRefreshTokenAndUnknownTokensAreFine() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let tokens = try Self.json(try await flow.exchange(try await flow.code()))
            let refreshToken = try #require(tokens["refresh_token"] as? String)
            func revoke(_ token: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/api/auth/oauth2/revoke", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: SignedOAuthQuery.encode([("token", token), ("client_id", flow.clientId)])))
            }
            #expect(try await revoke("no-such-token").status == .ok)
            #expect(try await revoke(refreshToken).status == .ok)
            #expect(try await flow.refresh(refreshToken).status == .badRequest)
            let grants = try await app.sql { postgres in
                try await postgres.query(#"SELECT "grantId" FROM "oauthGrantRevocation""#).collect()
                    .map { try $0.decode(String?.self) }
            }
            #expect(grants.count == 1 && grants.first??.isEmpty == false)

            // Revoking an access token ends its authorization: the refresh token goes with it.
            let second = try Self.json(try await flow.exchange(try await flow.code()))
            #expect(try await revoke(try #require(second["access_token"] as? String)).status == .ok)
            #expect(try await flow.refresh(try #require(second["refresh_token"] as? String)).status == .badRequest)
            // Each revocation by the client is on the trail; the unknown token changed nothing.
            let revocations = try await app.sql { postgres in
                try await postgres.query(
                    #"SELECT "actor" FROM "auditEvent" WHERE "action" = 'oauth.grant_revoked'"#
                ).collect().map { try $0.decode(String.self) }
            }
            #expect(revocations == ["client", "client"])
        }
    }

    @Test func aCodeIssuedBeforeTheAppWasRemovedIsRefusedAndSigningOutDoesNotBreakTheExchange() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            _ = try await flow.exchange(try await flow.code())
            let pending = try await flow.code()
            let apps = try await client.execute(
                uri: "/api/auth/oauth2/get-consents", method: .get, headers: [.cookie: flow.cookie])
            let id = try #require(
                (try JSONSerialization.jsonObject(with: Data(apps.body.readableBytesView)) as? [[String: Any]])?
                    .first?["id"] as? String)
            let removed = try await client.post(
                "/api/auth/oauth2/delete-consent", #"{"id":"\#(id)"}"#,
                headers: [.cookie: flow.cookie, .origin: trustedOrigin])
            #expect(removed.status == .ok)
            let refused = try await flow.exchange(pending)
            #expect(refused.status == .badRequest)
            #expect(try Self.json(refused)["error"] as? String == "invalid_grant")

            // A new authorization, then the person signs out before the client exchanges the code.
            let code = try await flow.code()
            let signedOut = try await client.post(
                "/api/auth/sign-out", "{}", headers: [.cookie: flow.cookie, .origin: trustedOrigin])
            #expect(signedOut.status == .ok)
            let exchanged = try await flow.exchange(code)
            #expect(exchanged.status == .ok)
            #expect(try Self.json(exchanged)["refresh_token"] is String)
        }
    }

    @Test func userinfoNeedsOpenIDAndIntrospectionAConfidentialClient() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            let withOpenID = try Self.json(
                try await flow.exchange(try await flow.code(scope: "openid email connectors:read")))
            let accessToken = try #require(withOpenID["access_token"] as? String)
            #expect(withOpenID["id_token"] is String)
            let info = try await client.execute(
                uri: "/api/auth/oauth2/userinfo", method: .get, headers: [.authorization: "Bearer \(accessToken)"])
            #expect(info.status == .ok)
            let claims = try Self.json(info)
            #expect(claims["email"] as? String == "ada@example.com")
            #expect(claims["name"] == nil)  // no `profile` scope
            let forged = try await client.execute(
                uri: "/api/auth/oauth2/userinfo", method: .get, headers: [.authorization: "Bearer \(accessToken)x"])
            #expect(forged.status == .unauthorized)
            // Without `openid`: 403 with the challenge that names the scope (RFC 6750 §3.1).
            let withoutOpenID = try #require(
                try Self.json(try await flow.exchange(try await flow.code(scope: "connectors:read")))["access_token"]
                    as? String)
            let lacking = try await client.execute(
                uri: "/api/auth/oauth2/userinfo", method: .get, headers: [.authorization: "Bearer \(withoutOpenID)"])
            #expect(lacking.status == .forbidden)
            #expect(lacking.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope", scope="openid""#)

            // A public client may not introspect.
            let refused = try await client.execute(
                uri: "/api/auth/oauth2/introspect", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(accessToken)&client_id=\(flow.clientId)"))
            #expect(try Self.json(refused)["error"] as? String == "invalid_client")
            // A confidential client (made by an operator) may.
            let secret = "confidential-secret-0123456789"
            try await app.sql { postgres in
                try await postgres.query(
                    """
                    INSERT INTO "oauthClient" ("id", "clientId", "clientSecret", "redirectUris", "tokenEndpointAuthMethod")
                    VALUES ('rs1', 'resource-server', \(OAuthHash.of(secret)), '["https://rs.example/cb"]'::jsonb,
                        'client_secret_basic')
                    """)
            }
            let basic = "Basic " + Data("resource-server:\(secret)".utf8).base64EncodedString()
            func introspect(_ token: String, authorization: String = basic) async throws -> [String: Any] {
                try Self.json(
                    try await client.execute(
                        uri: "/api/auth/oauth2/introspect", method: .post,
                        headers: [.contentType: "application/x-www-form-urlencoded", .authorization: authorization],
                        body: ByteBuffer(string: "token=\(token)")))
            }
            // Only a resource server linked to the token's resource reads other clients' tokens.
            #expect(try await introspect(accessToken)["active"] as? Bool == false)
            try await app.sql { postgres in
                try await postgres.query(
                    """
                    INSERT INTO "oauthClientResource" ("id", "clientId", "resourceId")
                    VALUES ('link1', 'resource-server', \(Self.resource))
                    """)
            }
            let active = try await introspect(accessToken)
            #expect(active["active"] as? Bool == true)
            #expect(active["client_id"] as? String == flow.clientId)
            #expect(active["aud"] as? String == Self.resource)
            #expect(try await introspect("garbage")["active"] as? Bool == false)
            let wrongSecret = try await client.execute(
                uri: "/api/auth/oauth2/introspect", method: .post,
                headers: [
                    .contentType: "application/x-www-form-urlencoded",
                    .authorization: "Basic " + Data("resource-server:wrong".utf8).base64EncodedString(),
                ], body: ByteBuffer(string: "token=\(accessToken)"))
            #expect(wrongSecret.status == .unauthorized)
            #expect(wrongSecret.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
        }
    }

    @Test func dynamicClientsNobodyAuthorizedAreDeletedAfterThirtyDays() async throws {
        let app = try await AuthTestApp.make()
        try await app.test { client in
            let flow = try await Self.flow(client)
            _ = try await flow.exchange(try await flow.code())
            let unused =
                try Self.json(
                    try await Self.register(client, #"{"redirect_uris":["http://127.0.0.1/cb"]}"#))["client_id"]
                as? String
            try await app.sql { postgres in
                try await postgres.query(
                    #"UPDATE "oauthClient" SET "createdAt" = now() - interval '31 days'"#)
                let repository = OAuthClientRepository(postgres: Postgres(postgres), logger: Logger(label: "test"))
                #expect(
                    try await repository.deleteUnused(registeredBefore: Date().addingTimeInterval(-30 * 86400)) == 1)
                let left = try await postgres.query(#"SELECT "clientId" FROM "oauthClient""#).collect()
                    .map { try $0.decode(String.self) }
                #expect(left == [flow.clientId])
                #expect(unused != flow.clientId)
            }
        }
    }
}
