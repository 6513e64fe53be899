import Foundation
import JWTKit
import Synchronization

/// Verifies the auth service's access tokens (spec section 5, "JWT verification"): RS256 only,
/// the key chosen by `kid` from the cached JWKS, then `exp` (60 s leeway), `nbf`, `iat` not in
/// the future, `iss` and `aud` equal to `PUBLIC_URL`, and a non-empty `sub`.
public struct JWTVerifier: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed, unsupportedAlgorithm, missingKeyID, unknownKeyID, badSignature
        case expired, notYetValid, issuedInTheFuture, wrongIssuer, wrongAudience, missingSubject
        case wrongType, missingGrant

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
            case .wrongType: "This kind of token is not accepted here."
            case .missingGrant: "The access token names no client or grant."
            }
        }
    }

    let keys: JWKSCache
    /// Tokens whose signature already verified: clients send the same JWT for its whole
    /// lifetime, and the RSA check and JSON decoding of an identical string give the same result.
    let verified: VerifiedTokenCache
    /// `PUBLIC_URL`: the expected `iss` and `aud`.
    let issuer: String
    let leeway: TimeInterval
    let now: @Sendable () -> Date

    public init(
        keys: JWKSCache, issuer: String, leeway: TimeInterval = 60, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.keys = keys
        self.verified = VerifiedTokenCache()
        self.issuer = issuer
        self.leeway = leeway
        self.now = now
    }

    /// A console/API JWT (`aud` = `PUBLIC_URL`). OAuth access tokens (`typ: at+jwt`) are refused:
    /// they are for the MCP resource only.
    public func verify(_ token: String) async throws(Failure) -> AuthenticatedUser {
        let (type, claims) = try await verifiedClaims(token)
        guard type?.lowercased() != "at+jwt" else { throw .wrongType }
        return try check(claims, audience: issuer)
    }

    /// An OAuth access token for `resource` (RFC 9068: `typ` `at+jwt`, `aud` the resource), with
    /// what it grants. Console JWTs are refused.
    public func verifyAccessToken(_ token: String, resource: String) async throws(Failure) -> (
        AuthenticatedUser, ResourceGrant
    ) {
        let (type, claims) = try await verifiedClaims(token)
        guard type?.lowercased() == "at+jwt" else { throw .wrongType }
        let user = try check(claims, audience: resource)
        guard let clientId = claims.client_id, !clientId.isEmpty, let sid = claims.sid, !sid.isEmpty else {
            throw .missingGrant
        }
        let scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        return (user, ResourceGrant(clientId: clientId, scopes: scopes, grantId: sid, issuedAt: claims.iat ?? 0))
    }

    /// The header's `typ` and the claims of a token whose signature verifies under a published key.
    func verifiedClaims(_ token: String) async throws(Failure) -> (String?, AccessTokenClaims) {
        // The time-dependent checks run again on every use; the key must still be published.
        if let cached = verified.get(token), keys.isPublished(cached.kid) { return (cached.typ, cached.claims) }
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
        verified.put(token, entry: .init(kid: kid, typ: header.typ, claims: claims))
        return (header.typ, claims)
    }

    /// The registered-claim checks, on claims whose signature has verified.
    func check(_ claims: AccessTokenClaims, audience expected: String) throws(Failure) -> AuthenticatedUser {
        let now = now().timeIntervalSince1970
        guard let exp = claims.exp, TimeInterval(exp) + leeway > now else { throw .expired }
        if let nbf = claims.nbf, TimeInterval(nbf) - leeway > now { throw .notYetValid }
        if let iat = claims.iat, TimeInterval(iat) - leeway > now { throw .issuedInTheFuture }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard let audience = claims.aud, audience.value.contains(expected) else { throw .wrongAudience }
        guard let sub = claims.sub, !sub.isEmpty else { throw .missingSubject }
        return AuthenticatedUser(
            id: sub, email: claims.email, name: claims.name, emailVerified: claims.emailVerified == true)
    }
}

/// Verified tokens and their claims, bounded; cleared whole when full.
public final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let kid: String
        let typ: String?
        let claims: AccessTokenClaims
    }

    private let entries = Mutex<[String: Entry]>([:])
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func get(_ token: String) -> Entry? {
        entries.withLock { $0[token] }
    }

    func put(_ token: String, entry: Entry) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = entry
        }
    }
}
