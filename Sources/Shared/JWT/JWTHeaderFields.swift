import Foundation

/// The protected header of a compact JWS, read before any key is chosen: the algorithm must
/// be RS256 and the key id must name a published key (jwt-kit would otherwise fall back to a
/// default key for an unknown `kid`).
struct JWTHeaderFields: Decodable {
    let alg: String?
    let kid: String?
    let crit: [String]?
    /// `at+jwt` marks an OAuth access token for a resource (RFC 9068), `JWT` the console's.
    let typ: String?

    /// The header of a token with three non-empty base64url parts; nil when malformed.
    static func parse(_ token: String) -> JWTHeaderFields? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }), let bytes = Base64URL.decode(String(parts[0])) else {
            return nil
        }
        return try? JSONDecoder().decode(JWTHeaderFields.self, from: Data(bytes))
    }
}
