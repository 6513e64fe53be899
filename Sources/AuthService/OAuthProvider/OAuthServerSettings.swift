import HTTPTypes
import Foundation
import Shared

/// The authorization server's settings (section "MCP for real clients" of the docs).
struct OAuthServerSettings: Sendable {
    /// `PUBLIC_URL`: the issuer, as in every JWT.
    var issuer: String
    /// The one protected resource: the MCP endpoint.
    var resource: String { issuer + "/mcp" }
    var codeLifetime: TimeInterval = 600
    var accessTokenLifetime: TimeInterval = 3600
    var refreshTokenLifetime: TimeInterval = 30 * 24 * 3600
    var idTokenLifetime: TimeInterval = 3600
    /// A revocation is kept until every token it covers has expired: a refresh token issued
    /// just before it, and an access token refreshed from that.
    var revocationLifetime: TimeInterval { refreshTokenLifetime + accessTokenLifetime }
    /// A rotated refresh token presented again within this window gets the same answer (clients race).
    var refreshReuseWindow: TimeInterval = 30
    /// `OAUTH_DYNAMIC_REGISTRATION` (default true).
    var dynamicRegistration = true
    /// Dynamically registered clients nobody authorized are deleted after this long.
    var unusedClientLifetime: TimeInterval = 30 * 24 * 3600
    /// Client ID Metadata Documents: what may be fetched, and how.
    var documents = ClientMetadataDocuments.Settings()
    /// Registrations per IP: 10 a minute (an MCP client registers once).
    var registrationLimit = RateLimitRule(name: "oauth-register", limit: 10, window: .seconds(60))

    var authorizationEndpoint: String { issuer + "/api/auth/oauth2/authorize" }
    var tokenEndpoint: String { issuer + "/api/auth/oauth2/token" }
    /// The console's pages the browser is sent to.
    var signInPage: String { issuer + "/sign-in" }
    var consentPage: String { issuer + "/consent" }
    var errorPage: String { issuer + "/oauth-error" }

    init(issuer: String) {
        self.issuer = issuer
    }

    init(_ env: ConfigValues, issuer: String) throws(ConfigurationError) {
        self.issuer = issuer
        self.dynamicRegistration = try env.bool("OAUTH_DYNAMIC_REGISTRATION", default: true)
        self.documents.allowHosts = Set(env.list("CIMD_ALLOW_HOSTS").map { $0.lowercased() })
        if let caFile = env.string("CIMD_CA_FILE") {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw ConfigurationError("CIMD_CA_FILE", "names a file that cannot be read: \(caFile)")
            }
            self.documents.caFile = caFile
        }
    }
}
