import HTTPTypes
import Hummingbird
import Shared

/// `GET /.well-known/oauth-authorization-server` (RFC 8414) and
/// `GET /.well-known/openid-configuration`: where MCP clients learn the endpoints. Public.
struct ServerMetadataRoutes: Sendable {
    let settings: OAuthServerSettings

    struct Document: Encodable {
        let issuer: String
        let authorization_endpoint: String
        let token_endpoint: String
        let registration_endpoint: String?
        let revocation_endpoint: String
        let introspection_endpoint: String
        let userinfo_endpoint: String
        let jwks_uri: String
        let scopes_supported: [String]
        let response_types_supported = ["code"]
        let response_modes_supported = ["query"]
        let grant_types_supported = ["authorization_code", "refresh_token"]
        let token_endpoint_auth_methods_supported = ["none", "client_secret_basic", "client_secret_post"]
        let revocation_endpoint_auth_methods_supported = ["none", "client_secret_basic", "client_secret_post"]
        let introspection_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post"]
        let code_challenge_methods_supported = ["S256"]
        let authorization_response_iss_parameter_supported = true
        let client_id_metadata_document_supported: Bool
        let subject_types_supported = ["public"]
        let id_token_signing_alg_values_supported = ["RS256"]
        let claims_supported = [
            "sub", "iss", "aud", "exp", "iat", "sid", "scope", "azp", "name", "picture", "email", "email_verified",
        ]
        let prompt_values_supported = ["login", "consent", "none"]
        let request_parameter_supported = false
        let request_uri_parameter_supported = false
    }

    func register(on router: Router<AuthRequestContext>, clientMetadataDocuments: Bool) {
        let base = settings.issuer + "/api/auth/oauth2"
        let document = Document(
            issuer: settings.issuer, authorization_endpoint: base + "/authorize", token_endpoint: base + "/token",
            registration_endpoint: settings.dynamicRegistration ? base + "/register" : nil,
            revocation_endpoint: base + "/revoke", introspection_endpoint: base + "/introspect",
            userinfo_endpoint: base + "/userinfo", jwks_uri: settings.issuer + "/api/auth/jwks",
            scopes_supported: OAuthScope.supported, client_id_metadata_document_supported: clientMetadataDocuments)
        let body = try! Response.jsonBody(document)
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            /// The authorization server's metadata; public, cached briefly.
            router.get(RouterPath(path)) { _, _ in
                Response.json(encoded: body, headers: [.cacheControl: "public, max-age=15"])
            }
        }
    }
}
