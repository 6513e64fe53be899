import Foundation
import JWTKit

/// Verifies the auth service's access tokens (spec section 5, "JWT verification"): RS256 only,
/// the key chosen by `kid` from the cached JWKS, then `exp` (60 s leeway), `nbf`, `iat` not in
/// the future, `iss` and `aud` equal to `PUBLIC_URL`, and a non-empty `sub`.
public struct JWTVerifier: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed, unsupportedAlgorithm, missingKeyID, unknownKeyID, badSignature
        case expired, notYetValid, issuedInTheFuture, wrongIssuer, wrongAudience, missingSubject

        public var description: String {
            switch self {
            case .malformed: "The token is not a compact JWS."
            case .unsupportedAlgorithm: "Only RS256 tokens are accepted."
            case .missingKeyID: "The token has no key id."
            case .unknownKeyID: "The token's key id is not published."
            case .badSignature: "The token's signature does not verify."
            case .expired: "The token has expired."
            case .notYetValid: "The token is not valid yet."
            case .issuedInTheFuture: "The token was issued in the future."
            case .wrongIssuer: "The token's issuer is not this deployment."
            case .wrongAudience: "The token's audience is not this deployment."
            case .missingSubject: "The token names no user."
            }
        }
    }

    let keys: JWKSCache
    /// `PUBLIC_URL`: the expected `iss` and `aud`.
    let issuer: String
    let leeway: TimeInterval
    let now: @Sendable () -> Date

    public init(keys: JWKSCache, issuer: String, leeway: TimeInterval = 60, now: @escaping @Sendable () -> Date = Date.init) {
        self.keys = keys
        self.issuer = issuer
        self.leeway = leeway
        self.now = now
    }

    public func verify(_ token: String) async throws(Failure) -> AuthenticatedUser {
        guard let header = JWTHeaderFields.parse(token) else { throw .malformed }
        // RFC 7515 §4.1.11: a critical extension we do not understand makes the token invalid.
        guard header.alg == "RS256", header.crit == nil else { throw .unsupportedAlgorithm }
        guard let kid = header.kid, !kid.isEmpty else { throw .missingKeyID }
        guard let collection = await keys.collection(containing: kid) else { throw .unknownKeyID }
        let claims: AccessTokenClaims
        do {
            claims = try await collection.verify(token, as: AccessTokenClaims.self)
        } catch {
            throw .badSignature
        }
        return try check(claims)
    }

    /// The registered-claim checks, on claims whose signature has verified.
    func check(_ claims: AccessTokenClaims) throws(Failure) -> AuthenticatedUser {
        let now = now().timeIntervalSince1970
        guard let exp = claims.exp, TimeInterval(exp) + leeway > now else { throw .expired }
        if let nbf = claims.nbf, TimeInterval(nbf) - leeway > now { throw .notYetValid }
        if let iat = claims.iat, TimeInterval(iat) - leeway > now { throw .issuedInTheFuture }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard let audience = claims.aud, audience.value.contains(issuer) else { throw .wrongAudience }
        guard let sub = claims.sub, !sub.isEmpty else { throw .missingSubject }
        return AuthenticatedUser(id: sub, email: claims.email, name: claims.name)
    }
}
