import HTTPTypes
import Foundation

/// Which redirect URIs a client may register (RFC 8252 for native apps, OAuth 2.1 §2.3.1):
/// web clients https to a non-loopback host; native clients that too, or http to a loopback
/// address on any port, or a private-use scheme (`com.example.app:/callback`). Never a
/// fragment, user info, or plain http elsewhere.
enum RedirectURIPolicy {
    static func problem(with uri: String, applicationType: String) -> String? {
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else {
            return "\(uri) is not an absolute URI"
        }
        guard components.fragment == nil else { return "\(uri) has a fragment" }
        guard components.user == nil, components.password == nil else { return "\(uri) carries credentials" }
        switch scheme {
        case "https":
            guard let host = components.host, !host.isEmpty else { return "\(uri) has no host" }
            if LoopbackRedirect.hosts.contains(host.lowercased()) && applicationType != "native" {
                return "\(uri): a web client's redirect cannot be a loopback address"
            }
            return nil
        case "http":
            guard LoopbackRedirect(uri) != nil else {
                return "\(uri): http is allowed only to a loopback address (127.0.0.1, [::1], localhost)"
            }
            return applicationType == "native" ? nil : "\(uri): a loopback redirect needs application_type native"
        case "javascript", "data", "vbscript", "file":
            return "\(uri) uses a forbidden scheme"
        default:
            // A private-use scheme: reverse-domain (it has a dot), native clients only.
            guard applicationType == "native", scheme.contains(".") else {
                return "\(uri): only native clients may use a private-use scheme, in reverse-domain form"
            }
            return nil
        }
    }
}
