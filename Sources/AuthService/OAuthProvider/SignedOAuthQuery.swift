import HTTPTypes
import Foundation
import Shared

/// An authorization request carried through sign-in and consent as a signed query string, the
/// way Better Auth's `oauth-provider` (1.6.18 and later) signs it, so its console and ours accept
/// each other's: the request's parameters plus `exp` (seconds) and `ba_iat` (milliseconds), one
/// `ba_param` per parameter name (itself included), signed with HMAC-SHA256 under
/// `BETTER_AUTH_SECRET` over every pair sorted by name then value and form-encoded; the
/// signature is standard base64 in `sig`.
struct SignedOAuthQuery: Sendable {
    let signer: HMACSigner
    /// How long a signed query is accepted: the authorization code's lifetime.
    let lifetime: TimeInterval

    init(secret: String, lifetime: TimeInterval = 600) {
        self.signer = HMACSigner(secret: secret)
        self.lifetime = lifetime
    }

    /// The query string (without `?`) for `parameters`.
    func sign(_ parameters: [(String, String)], now: Date = Date()) -> String {
        var pairs = parameters.filter { !["sig", "exp", "ba_iat", "ba_pl", "ba_param"].contains($0.0) }
        pairs.append(("exp", String(Int64(now.timeIntervalSince1970) + Int64(lifetime))))
        pairs.append(("ba_iat", String(Int64(now.timeIntervalSince1970 * 1000))))
        let names = Set(pairs.map(\.0)).union(["ba_param"]).sorted(by: Self.codeUnitOrder)
        pairs += names.map { ("ba_param", $0) }
        let signature = signer.sha256Base64(Self.canonical(pairs))
        return Self.encode(pairs + [("sig", signature)])
    }

    /// The authorization request's parameters (without the signing fields) when `query` carries a
    /// valid, unexpired signature; nil otherwise.
    func verify(_ query: String, now: Date = Date()) -> [(String, String)]? {
        var pairs = FormEncoding.pairs(query.hasPrefix("?") ? String(query.dropFirst()) : query)
        let signatures = pairs.filter { $0.0 == "sig" }
        guard signatures.count == 1 else { return nil }
        pairs.removeAll { $0.0 == "sig" }
        let expected = signer.sha256Base64(Self.canonical(pairs))
        guard ConstantTime.equals(Array(signatures[0].1.utf8), Array(expected.utf8)) else { return nil }
        guard let exp = pairs.last(where: { $0.0 == "exp" }).flatMap({ Int64($0.1) }),
            TimeInterval(exp) >= now.timeIntervalSince1970
        else { return nil }
        return pairs.filter { !["exp", "ba_iat", "ba_pl", "ba_param"].contains($0.0) }
    }

    /// Every pair sorted by name, then value (JavaScript's UTF-16 order), form-encoded.
    static func canonical(_ pairs: [(String, String)]) -> String {
        encode(
            pairs.sorted { left, right in
                left.0 == right.0 ? codeUnitOrder(left.1, right.1) : codeUnitOrder(left.0, right.0)
            })
    }

    static func codeUnitOrder(_ left: String, _ right: String) -> Bool {
        left.utf16.lexicographicallyPrecedes(right.utf16)
    }

    /// WHATWG `application/x-www-form-urlencoded` serialisation (what `URLSearchParams` writes).
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { formEscape($0.0) + "=" + formEscape($0.1) }.joined(separator: "&")
    }

    static func formEscape(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "): out += "+"
            default: out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
