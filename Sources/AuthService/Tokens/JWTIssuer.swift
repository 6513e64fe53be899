import Crypto
import CryptoExtras
import Foundation
import NIOPosix
import Shared
import Synchronization

/// Issues the RS256 JWTs the connectors service accepts.
///
/// RSA signing costs about a millisecond of CPU, so it runs on NIO's blocking pool. A session's
/// JWT is reused while more than half its lifetime remains (and while neither the user, the
/// session nor the signing key has changed), so SPAs polling `get-session` cost no signature.
/// The compact serialisation is written here because jwt-kit's async signer would run RSA
/// inline on the caller's executor.
final class JWTIssuer: Sendable {
    struct Claims: Encodable {
        let sub: String
        let email: String
        let name: String
        let emailVerified: Bool
        let iat: Int64
        let exp: Int64
        let iss: String
        let aud: String
    }

    private struct Cached {
        let token: String
        let expiresAt: Date
        let fingerprint: String
    }

    let keys: SigningKeys
    let issuer: String
    let lifetime: TimeInterval
    /// Per session; bounded, the oldest pushed out first (`ExpiringMap`).
    private let cache = Mutex(ExpiringMap<String, Cached, Date>(capacity: 50_000))

    init(keys: SigningKeys, issuer: String, lifetime: TimeInterval = 15 * 60) {
        self.keys = keys
        self.issuer = issuer
        self.lifetime = lifetime
    }

    /// A JWT for the session's user: a cached one while it is fresh enough, else a new one.
    func token(for session: Session, user: User, now: Date = Date()) async throws -> String {
        guard let key = keys.signer(now: now) else {
            throw AppError.serviceUnavailable("NO_SIGNING_KEY", "No JWT signing key is loaded.")
        }
        let fingerprint = [
            key.id, user.id, user.email, user.name, String(user.emailVerified),
            String(user.updatedAt.timeIntervalSince1970),
        ].joined(separator: "\u{1F}")
        let reusable = cache.withLock { cache -> String? in
            guard let cached = cache.value(for: session.id, now: now), cached.fingerprint == fingerprint,
                cached.expiresAt.timeIntervalSince(now) > lifetime / 2
            else { return nil }
            return cached.token
        }
        if let reusable { return reusable }
        let (token, expiresAt) = try await sign(user: user, key: key, now: now)
        cache.withLock { cache in
            cache.set(
                session.id, Cached(token: token, expiresAt: expiresAt, fingerprint: fingerprint), expiresAt: expiresAt,
                now: now)
        }
        return token
    }

    /// Forgets a session's JWT (sign-out, revocation).
    func forget(sessionID: String) {
        cache.withLock { $0.remove(sessionID) }
    }

    /// Signs a fresh token; never cached.
    func sign(user: User, key: SigningKey, now: Date = Date()) async throws -> (String, Date) {
        let issuedAt = Int64(now.timeIntervalSince1970)
        let claims = Claims(
            sub: user.id, email: user.email, name: user.name, emailVerified: user.emailVerified,
            iat: issuedAt, exp: issuedAt + Int64(lifetime), iss: issuer, aud: issuer)
        return (
            try await Self.sign(claims, header: key.encodedJWTHeader, key: key),
            Date(timeIntervalSince1970: TimeInterval(issuedAt) + lifetime)
        )
    }

    /// A compact RS256 JWS of `claims` under `header` (already base64url), signed off the event loop.
    static func sign(_ claims: some Encodable, header: String, key: SigningKey) async throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let signingInput = header + "." + Base64URL.encode(try encoder.encode(claims))
        let privateKey = key.privateKey
        let signature = try await NIOThreadPool.singleton.runIfActive {
            try privateKey.signature(for: SHA256.hash(data: Array(signingInput.utf8)), padding: .insecurePKCS1v1_5)
                .rawRepresentation
        }
        return signingInput + "." + Base64URL.encode(signature)
    }
}
