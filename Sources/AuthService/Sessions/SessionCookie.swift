import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// Better Auth's session cookie: `better-auth.session_token` (with the `__Secure-` prefix and
/// `Secure` when the public URL is https), whose value is the session token signed as
/// `token + "." + base64(HMAC-SHA256(secret, token))`, URL-encoded.
struct SessionCookie: Sendable {
    let signer: HMACSigner
    let secure: Bool
    let policy: SessionPolicy

    init(secret: String, secure: Bool, policy: SessionPolicy) {
        self.signer = HMACSigner(secret: secret)
        self.secure = secure
        self.policy = policy
    }

    var name: String { (secure ? "__Secure-" : "") + "better-auth.session_token" }
    /// Marks a `rememberMe: false` session (a browser-session cookie, not extended).
    var dontRememberName: String { (secure ? "__Secure-" : "") + "better-auth.dont_remember" }

    /// The signed, URL-encoded cookie value for a token.
    func value(for token: String) -> String {
        Self.urlEncode(token + "." + signer.sha256Base64(token))
    }

    /// The token a signed cookie value carries, if its signature is ours.
    func token(fromCookieValue raw: String) -> String? {
        guard let decoded = Self.percentDecode(raw) else { return nil }
        guard let dot = decoded.lastIndex(of: ".") else { return nil }
        let token = String(decoded[..<dot])
        let signature = String(decoded[decoded.index(after: dot)...])
        let expected = signer.sha256Base64(token)
        guard !token.isEmpty, ConstantTime.equals(signature, expected) else { return nil }
        return token
    }

    /// The session token of a request: the signed cookie, or `Authorization: Bearer <token>`
    /// for non-browser clients (the raw token or the signed cookie value). A bearer that is a
    /// signed value whose signature is not ours (an app's JWT for another service, say) is not a
    /// session credential and is passed over for the cookie, as Better Auth's bearer plugin does.
    func token(from request: Request) -> String? {
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            let credential = authorization.dropFirst(7).trimmingOptionalWhitespace
            if credential.contains(".") || credential.contains("%") {
                if let token = token(fromCookieValue: credential) { return token }
            } else if !credential.isEmpty {
                return credential
            }
        }
        guard let raw = cookie(named: name, in: request) else { return nil }
        return token(fromCookieValue: raw)
    }

    /// True when the request carries the signed `dont_remember` marker.
    func isDontRemember(_ request: Request) -> Bool {
        guard let raw = cookie(named: dontRememberName, in: request) else { return false }
        return token(fromCookieValue: raw) == "true"
    }

    /// `Set-Cookie` values that establish a session.
    func setCookies(token: String, rememberMe: Bool) -> [String] {
        if rememberMe {
            return [
                attributes("\(name)=\(value(for: token))", maxAge: Int(policy.expiresIn)), expired(dontRememberName),
            ]
        }
        return [
            attributes("\(name)=\(value(for: token))", maxAge: nil),
            attributes("\(dontRememberName)=\(value(for: "true"))", maxAge: nil),
        ]
    }

    /// The response headers that establish a session: its cookies, and `set-auth-token` (the
    /// signed value) for clients that keep the token themselves, as Better Auth's bearer plugin does.
    func establishingHeaders(token: String, rememberMe: Bool) -> HTTPFields {
        var headers = HTTPFields()
        for value in setCookies(token: token, rememberMe: rememberMe) {
            headers.append(HTTPField(name: .setCookie, value: value))
        }
        headers[.setAuthToken] = value(for: token)
        return headers
    }

    /// The response headers that remove the session's cookies.
    func clearingHeaders() -> HTTPFields {
        var headers = HTTPFields()
        for cookieName in [name, dontRememberName] {
            headers.append(HTTPField(name: .setCookie, value: expired(cookieName)))
        }
        return headers
    }

    func expired(_ cookieName: String) -> String {
        attributes("\(cookieName)=", maxAge: 0)
    }

    /// A `Set-Cookie` value with the attributes every auth cookie shares, in Better Auth's order.
    func attributes(_ pair: String, maxAge: Int?) -> String {
        var parts = [pair]
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        parts.append("Path=/")
        parts.append("HttpOnly")
        if secure { parts.append("Secure") }
        parts.append("SameSite=Lax")
        return parts.joined(separator: "; ")
    }

    /// The raw value of a request cookie.
    func cookie(named wanted: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.utf8.split(separator: UInt8(ascii: ";")) {
                let trimmed = pair.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                guard let equals = trimmed.firstIndex(of: UInt8(ascii: "=")) else { continue }
                if trimmed[..<equals].elementsEqual(wanted.utf8) {
                    let value = trimmed[trimmed.index(after: equals)...].reversed().drop {
                        $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t")
                    }
                    return String(decoding: value.reversed(), as: UTF8.self)
                }
            }
        }
        return nil
    }

    /// `decodeURIComponent` for cookie values; nil for a malformed escape or invalid UTF-8.
    /// (Foundation's `removingPercentEncoding` goes through NSString on Linux: slow per request.)
    static func percentDecode(_ value: String) -> String? {
        guard value.utf8.contains(UInt8(ascii: "%")) else { return value }
        var bytes = [UInt8]()
        bytes.reserveCapacity(value.utf8.count)
        var iterator = value.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(Hex.value), let low = iterator.next().flatMap(Hex.value) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `encodeURIComponent`, as Better Auth encodes cookie values.
    static func urlEncode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.!~*'()")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

extension HTTPField.Name {
    static let setAuthToken = Self("set-auth-token")!
    static let setAuthJWT = Self("set-auth-jwt")!
}
