/// The scopes the authorization server grants, with the words the consent page shows for each.
enum OAuthScope {
    static let read = "connectors:read"
    static let write = "connectors:write"
    static let offlineAccess = "offline_access"
    static let openID = "openid"

    /// In the order metadata lists them.
    static let supported = ["openid", "profile", "email", offlineAccess, read, write]
    /// What an authorization request without `scope` asks for.
    static let defaultRequest = [read]
    /// The scopes the MCP resource itself defines (its protected-resource metadata and challenges).
    static let resourceScopes = [read, write]

    /// Space-separated scopes, each once, in their original order.
    static func parse(_ value: String?) -> [String] {
        var seen = Set<String>()
        return (value ?? "").split(separator: " ").map(String.init).filter { seen.insert($0).inserted }
    }
}
