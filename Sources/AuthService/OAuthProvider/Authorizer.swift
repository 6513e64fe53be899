import HTTPTypes
import Foundation
import Shared

/// The authorization endpoint's decisions (RFC 6749 §4.1 with PKCE, RFC 8707 resources and RFC
/// 9207 `iss`), shared by `/oauth2/authorize`, the consent answer and a sign-in that resumes a
/// flow: check the request, then send the browser to sign in, to consent, or back to the client
/// with a code. Every answer is a URL to send the browser to.
struct Authorizer: Sendable {
    let settings: OAuthServerSettings
    let clients: OAuthClientResolver
    let grants: OAuthGrantRepository
    let signedQuery: SignedOAuthQuery

    /// A checked authorization request.
    struct Request: Sendable {
        var client: OAuthClient
        var redirectURI: String
        var scopes: [String]
        var state: String?
        var codeChallenge: String
        var resources: [String]
        var prompt: Set<String>
        var nonce: String?
        /// The parameters as received, to sign into the console's URLs.
        var parameters: [(String, String)]
    }

    /// An error the client may be told about (its redirect URI is verified), or not.
    enum Refusal: Error {
        case toClient(redirectURI: String, state: String?, OAuthError)
        case toErrorPage(OAuthError)
    }

    /// Where the browser goes next for `parameters`, given the signed-in session (if any).
    func authorize(_ parameters: [(String, String)], session: Session?, now: Date = Date()) async throws -> String {
        do {
            let request = try await check(parameters)
            return try await decide(request, session: session, now: now)
        } catch let refusal as Refusal {
            return url(for: refusal)
        }
    }

    /// After the consent page: record consent (for the accepted subset of scopes) and issue a
    /// code, or tell the client the person declined.
    func answerConsent(
        _ parameters: [(String, String)], accept: Bool, scope: String?, session: Session, now: Date = Date()
    ) async throws -> String {
        let request: Request
        do {
            request = try await check(parameters)
        } catch let refusal as Refusal {
            return url(for: refusal)
        }
        guard accept else {
            return clientRedirect(
                request.redirectURI, state: request.state,
                error: OAuthError(status: .badRequest, error: "access_denied", errorDescription: "User denied access"))
        }
        var granted = request
        if let scope {
            let accepted = OAuthScope.parse(scope)
            guard accepted.allSatisfy(request.scopes.contains) else {
                throw OAuthError.invalidRequest("Scope not originally requested")
            }
            granted.scopes = accepted
        }
        try await grants.saveConsent(
            clientId: request.client.clientId, userId: session.userId, scopes: granted.scopes,
            resources: granted.resources, now: now)
        return try await issueCode(granted, session: session, now: now)
    }

    // MARK: Checking

    func check(_ parameters: [(String, String)]) async throws -> Request {
        func one(_ name: String) throws -> String? {
            let values = parameters.filter { $0.0 == name }.map(\.1)
            guard values.count <= 1 else { throw OAuthError.invalidRequest("\(name) must not appear more than once") }
            return values.first.flatMap { $0.isEmpty ? nil : $0 }
        }
        // Until the client and its redirect URI are known, nothing may be sent to a redirect URI.
        let clientId: String
        let redirectURI: String
        let client: OAuthClient
        do {
            guard let id = try one("client_id") else { throw OAuthError.invalidRequest("client_id is required") }
            clientId = id
            guard let found = try await clients.client(id: clientId), !found.disabled else {
                throw OAuthError(status: .badRequest, error: "invalid_client", errorDescription: "client not found")
            }
            client = found
            guard let uri = try one("redirect_uri") else {
                throw OAuthError(
                    status: .badRequest, error: "invalid_redirect", errorDescription: "redirect_uri is required")
            }
            guard client.registeredRedirect(matching: uri) != nil else {
                throw OAuthError(
                    status: .badRequest, error: "invalid_redirect",
                    errorDescription: "redirect_uri is not registered for this client")
            }
            redirectURI = uri
        } catch let error as OAuthError {
            throw Refusal.toErrorPage(error)
        }
        let state = try? one("state")
        func refuse(_ error: OAuthError) -> Refusal {
            .toClient(redirectURI: redirectURI, state: state, error)
        }
        do {
            guard let responseType = try one("response_type") else {
                throw OAuthError.invalidRequest("response_type is required")
            }
            guard responseType == "code" else {
                throw OAuthError(
                    status: .badRequest, error: "unsupported_response_type",
                    errorDescription: "response_type must be code")
            }
            guard client.allows(grant: "authorization_code") else {
                throw OAuthError(
                    status: .badRequest, error: "unauthorized_client",
                    errorDescription: "this client may not use the authorization code grant")
            }
            guard let challenge = try one("code_challenge") else {
                throw OAuthError.invalidRequest("code_challenge is required (PKCE with S256)")
            }
            guard try one("code_challenge_method") == "S256" else {
                throw OAuthError.invalidRequest("code_challenge_method must be S256")
            }
            guard PKCE.isWellFormed(challenge) else {
                throw OAuthError.invalidRequest("code_challenge must be 43 to 128 unreserved characters")
            }
            let scopes = try one("scope").map(OAuthScope.parse) ?? OAuthScope.defaultRequest
            let unknown = scopes.filter { !OAuthScope.supported.contains($0) || !client.allows(scope: $0) }
            guard unknown.isEmpty else {
                throw OAuthError.invalidScope("The following scopes are invalid: \(unknown.joined(separator: ", "))")
            }
            let requested = parameters.filter { $0.0 == "resource" }.map(\.1)
            guard requested.allSatisfy({ $0 == settings.resource }) else {
                throw OAuthError.invalidTarget("The only resource here is \(settings.resource).")
            }
            let prompt = Set(try one("prompt").map(OAuthScope.parse) ?? [])
            guard !prompt.contains("none") || prompt.count == 1 else {
                throw OAuthError.invalidRequest("prompt=none cannot be combined with other values")
            }
            return Request(
                client: client, redirectURI: redirectURI, scopes: scopes, state: state, codeChallenge: challenge,
                resources: [settings.resource], prompt: prompt, nonce: try one("nonce"), parameters: parameters)
        } catch let error as OAuthError {
            throw refuse(error)
        }
    }

    // MARK: Deciding

    func decide(_ request: Request, session: Session?, now: Date) async throws -> String {
        guard let session, !request.prompt.contains("login") else {
            if request.prompt.contains("none") {
                return clientRedirect(
                    request.redirectURI, state: request.state, error: Self.interaction("login_required"))
            }
            return settings.signInPage + "?" + signedQuery.sign(request.parameters, now: now)
        }
        if try await needsConsent(request, userId: session.userId) {
            if request.prompt.contains("none") {
                return clientRedirect(
                    request.redirectURI, state: request.state, error: Self.interaction("consent_required"))
            }
            return settings.consentPage + "?" + signedQuery.sign(request.parameters, now: now)
        }
        return try await issueCode(request, session: session, now: now)
    }

    func needsConsent(_ request: Request, userId: String) async throws -> Bool {
        if request.client.skipConsent { return false }
        // A code sent to a program on this computer could be any program's: the person confirms
        // each time (any web page can start an authorization with a loopback redirect).
        if request.prompt.contains("consent") || LoopbackRedirect(request.redirectURI) != nil { return true }
        guard let consent = try await grants.consent(clientId: request.client.clientId, userId: userId) else {
            return true
        }
        return !request.scopes.allSatisfy(consent.scopes.contains)
            || !request.resources.allSatisfy(consent.resources.contains)
    }

    func issueCode(_ request: Request, session: Session, now: Date) async throws -> String {
        let code = RandomToken.string(length: 32)
        let grant = AuthorizationGrant(
            query: .init(
                client_id: request.client.clientId, redirect_uri: request.redirectURI,
                scope: request.scopes.joined(separator: " "), state: request.state,
                code_challenge: request.codeChallenge, code_challenge_method: "S256", nonce: request.nonce),
            userId: session.userId, sessionId: session.id,
            authTime: Int64(session.createdAt.timeIntervalSince1970 * 1000),
            resource: request.resources)
        try await grants.saveCode(hash: OAuthHash.of(code), grant: grant, lifetime: settings.codeLifetime, now: now)
        return Self.appending(
            [("code", code)] + (request.state.map { [("state", $0)] } ?? []) + [("iss", settings.issuer)],
            to: request.redirectURI)
    }

    // MARK: URLs

    func url(for refusal: Refusal) -> String {
        switch refusal {
        case .toClient(let redirectURI, let state, let error):
            clientRedirect(redirectURI, state: state, error: error)
        case .toErrorPage(let error):
            Self.appending(
                [("error", error.error), ("error_description", error.errorDescription ?? "")], to: settings.errorPage)
        }
    }

    func clientRedirect(_ redirectURI: String, state: String?, error: OAuthError) -> String {
        var fields = [("error", error.error)]
        if let description = error.errorDescription { fields.append(("error_description", description)) }
        if let state { fields.append(("state", state)) }
        fields.append(("iss", settings.issuer))
        return Self.appending(fields, to: redirectURI)
    }

    static func interaction(_ code: String) -> OAuthError {
        OAuthError(status: .badRequest, error: code, errorDescription: nil)
    }

    /// `uri` with `fields` added to its query (a registered redirect URI may carry one).
    static func appending(_ fields: [(String, String)], to uri: String) -> String {
        uri + (uri.contains("?") ? "&" : "?") + SignedOAuthQuery.encode(fields)
    }
}

/// RFC 7636 with S256 only.
enum PKCE {
    /// 43–128 characters of `[A-Za-z0-9-._~]` (a verifier, and the shape of an S256 challenge).
    static func isWellFormed(_ value: String) -> Bool {
        (43...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                    UInt8(ascii: "~"):
                    true
                default: false
                }
            }
    }

    static func verify(verifier: String, challenge: String) -> Bool {
        guard isWellFormed(verifier) else { return false }
        return ConstantTime.equals(Array(OAuthHash.of(verifier).utf8), Array(challenge.utf8))
    }
}
