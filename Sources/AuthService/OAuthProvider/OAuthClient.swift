import HTTPTypes
import Foundation

/// A registered OAuth client (an MCP client, usually public), as Better Auth's `oauthClient`
/// row holds it.
struct OAuthClient: Sendable, Equatable {
    var clientId: String
    /// base64url(SHA-256(secret)); nil for public clients.
    var clientSecretHash: String?
    var name: String?
    var uri: String?
    var icon: String?
    var redirectURIs: [String]
    /// `none` for public clients; Better Auth reads a missing value as `client_secret_basic`.
    var tokenEndpointAuthMethod: String
    var applicationType: String?
    var grantTypes: [String]
    var responseTypes: [String]
    /// The scopes this client may ask for; nil means every supported scope.
    var scopes: [String]?
    var disabled: Bool
    var skipConsent: Bool
    /// `cimd` for a client known by its Client ID Metadata Document.
    var discoveryId: String?
    var createdAt: Date

    var isPublic: Bool { tokenEndpointAuthMethod == "none" }

    func allows(grant: String) -> Bool {
        // Better Auth: no grant types means authorization_code, which brings refresh_token with it.
        let grants = grantTypes.isEmpty ? ["authorization_code"] : grantTypes
        return grants.contains(grant) || (grant == "refresh_token" && grants.contains("authorization_code"))
    }

    func allows(scope: String) -> Bool {
        (scopes ?? OAuthScope.supported).contains(scope)
    }

    /// The registered redirect URI `candidate` matches: the same string, or — for a loopback
    /// redirect over http (`127.0.0.1`, `[::1]`, `localhost`) — the same but for the port
    /// (RFC 8252 §7.3: native apps listen on whatever port is free).
    func registeredRedirect(matching candidate: String) -> String? {
        if let exact = redirectURIs.first(where: { $0 == candidate }) { return exact }
        guard let wanted = LoopbackRedirect(candidate) else { return nil }
        return redirectURIs.first { LoopbackRedirect($0)?.sameButPort(wanted) == true }
    }
}

/// An `http://` redirect to this machine, compared without its port.
struct LoopbackRedirect: Equatable {
    let host: String
    let path: String
    let query: String?

    static let hosts: Set<String> = ["127.0.0.1", "[::1]", "::1", "localhost"]

    init?(_ uri: String) {
        guard let components = URLComponents(string: uri), components.scheme?.lowercased() == "http",
            let host = components.host?.lowercased(), Self.hosts.contains(host), components.user == nil,
            components.password == nil, components.fragment == nil
        else { return nil }
        self.host = host
        self.path = components.percentEncodedPath
        self.query = components.percentEncodedQuery
    }

    func sameButPort(_ other: LoopbackRedirect) -> Bool { self == other }
}
