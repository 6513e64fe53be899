import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// `POST /api/auth/oauth2/register`: dynamic client registration (RFC 7591) for public clients,
/// open to anyone (MCP clients register themselves), limited per IP.
struct RegistrationRoutes: Sendable {
    let clients: OAuthClientRepository
    let settings: OAuthServerSettings
    let limiter: RateLimitMiddleware<AuthRequestContext>

    struct Metadata: Decodable {
        let redirect_uris: [String]?
        let token_endpoint_auth_method: String?
        let grant_types: [String]?
        let response_types: [String]?
        let client_name: String?
        let client_uri: String?
        let logo_uri: String?
        let scope: String?
        let application_type: String?
    }

    struct Registered: Encodable {
        let client_id: String
        let client_id_issued_at: Int64
        let client_name: String?
        let client_uri: String?
        let logo_uri: String?
        let redirect_uris: [String]
        let token_endpoint_auth_method: String
        let grant_types: [String]
        let response_types: [String]
        let application_type: String
        let scope: String
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>) {
        /// Registers a public client; anyone may call it while registration is on.
        api.group("/oauth2").add(middleware: limiter).post("/register") { request, context in
            guard settings.dynamicRegistration else {
                throw OAuthError(
                    status: .forbidden, error: "access_denied", errorDescription: "Client registration is disabled")
            }
            let metadata: Metadata
            do {
                metadata = try await JSONBody.decode(Metadata.self, from: request, context: context)
            } catch let error as AppError {
                // Metadata that does not read is invalid metadata (RFC 7591 §3.2.2); a body that is
                // not JSON at all, or too large, keeps its own status.
                guard error.status == .badRequest else {
                    throw OAuthError(status: error.status, error: "invalid_request", errorDescription: error.message)
                }
                throw Self.invalid(error.message)
            }
            return try await register(metadata)
        }
    }

    func register(_ metadata: Metadata, now: Date = Date()) async throws -> Response {
        guard let redirects = metadata.redirect_uris, !redirects.isEmpty else {
            throw OAuthError(
                status: .badRequest, error: "invalid_redirect_uri", errorDescription: "redirect_uris is required")
        }
        let method = metadata.token_endpoint_auth_method ?? "none"
        guard method == "none" else {
            throw Self.invalid("only public clients register here: token_endpoint_auth_method must be none")
        }
        let grants = metadata.grant_types ?? ["authorization_code", "refresh_token"]
        guard !grants.isEmpty, grants.allSatisfy(["authorization_code", "refresh_token"].contains),
            grants.contains("authorization_code")
        else { throw Self.invalid("grant_types may be authorization_code and refresh_token") }
        let responses = metadata.response_types ?? ["code"]
        guard responses == ["code"] else { throw Self.invalid("response_types must be [\"code\"]") }
        let requested = OAuthScope.parse(metadata.scope)
        let unknown = requested.filter { !OAuthScope.supported.contains($0) }
        guard unknown.isEmpty else {
            throw OAuthError.invalidScope("unsupported scopes: \(unknown.joined(separator: " "))")
        }
        // Without application_type, redirects that are all loopback http make it a native app.
        let applicationType =
            metadata.application_type
            ?? (redirects.allSatisfy { LoopbackRedirect($0) != nil } ? "native" : "web")
        guard ["web", "native"].contains(applicationType) else {
            throw Self.invalid("application_type must be web or native")
        }
        for uri in redirects {
            if let problem = RedirectURIPolicy.problem(with: uri, applicationType: applicationType) {
                throw OAuthError(status: .badRequest, error: "invalid_redirect_uri", errorDescription: problem)
            }
        }
        for (name, uri) in [("client_uri", metadata.client_uri), ("logo_uri", metadata.logo_uri)] {
            if let uri, URLComponents(string: uri)?.scheme.map({ ["https", "http"].contains($0.lowercased()) }) != true
            {
                throw Self.invalid("\(name) must be an http(s) URL")
            }
        }
        if let name = metadata.client_name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > 200 {
            throw Self.invalid("client_name must be 1 to 200 characters")
        }
        let client = OAuthClient(
            clientId: RandomToken.string(length: 32, alphabet: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            clientSecretHash: nil, name: metadata.client_name, uri: metadata.client_uri, icon: metadata.logo_uri,
            redirectURIs: redirects, tokenEndpointAuthMethod: "none", applicationType: applicationType,
            grantTypes: grants, responseTypes: responses, scopes: OAuthScope.supported, disabled: false,
            skipConsent: false, discoveryId: nil, createdAt: now)
        try await clients.save(client, metadata: #"{"registration":"dynamic"}"#, now: now)
        try await clients.link(clientId: client.clientId, resource: settings.resource, now: now)
        return try Response.json(
            Registered(
                client_id: client.clientId, client_id_issued_at: Int64(now.timeIntervalSince1970),
                client_name: client.name, client_uri: client.uri, logo_uri: client.icon, redirect_uris: redirects,
                token_endpoint_auth_method: "none", grant_types: grants, response_types: responses,
                application_type: applicationType,
                scope: OAuthScope.supported.joined(separator: " ")),
            status: .created, headers: [.cacheControl: "no-store"])
    }

    static func invalid(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_client_metadata", errorDescription: description)
    }
}
