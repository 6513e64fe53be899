import Crypto
import CryptoExtras
import Foundation
import Shared

/// One RS256 signing key: its id, the private key, and when it was created and stops being
/// published.
struct SigningKey: Sendable {
    let id: String
    let privateKey: _RSA.Signing.PrivateKey
    let createdAt: Date
    let expiresAt: Date?
    /// The base64url JWS header of tokens this key signs, made once rather than per token.
    let encodedJWTHeader: String
    /// The same for OAuth access tokens (RFC 9068: `typ` is `at+jwt`).
    let encodedAccessTokenHeader: String

    init(id: String, privateKey: _RSA.Signing.PrivateKey, createdAt: Date, expiresAt: Date?) {
        self.id = id
        self.privateKey = privateKey
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = (try? encoder.encode(["alg": "RS256", "kid": id, "typ": "JWT"])) ?? Data()
        self.encodedJWTHeader = Base64URL.encode(header)
        let accessTokenHeader = (try? encoder.encode(["alg": "RS256", "kid": id, "typ": "at+jwt"])) ?? Data()
        self.encodedAccessTokenHeader = Base64URL.encode(accessTokenHeader)
    }

    /// The public half as a JWK, with `alg` so verifiers never take the algorithm from a token.
    var publicJWK: PublicJWK {
        let primitives = try! privateKey.publicKey.getKeyPrimitives()
        return PublicJWK(
            kid: id, n: Base64URL.encode(primitives.modulus), e: Base64URL.encode(primitives.publicExponent))
    }
}

/// An RSA public key as a JSON Web Key.
struct PublicJWK: Codable, Sendable, Equatable {
    var kty = "RSA"
    var alg = "RS256"
    var use = "sig"
    var kid: String
    var n: String
    var e: String

    init(kid: String, n: String, e: String) {
        self.kid = kid
        self.n = n
        self.e = e
    }
}

/// Seals private keys at rest under a key derived from `BETTER_AUTH_SECRET` (HKDF-SHA256),
/// bound to the key id, so a changed secret is detected rather than silently misused.
struct KeyVault: Sendable {
    let box: SecretBox

    init(secret: String) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(secret.utf8)), salt: Array("connectors.jwks".utf8),
            info: Array("private-key-encryption".utf8), outputByteCount: 32)
        let bytes = derived.withUnsafeBytes { Array($0) }
        self.box = SecretBox(current: try! SecretBox.Key(bytes: bytes))
    }

    func seal(_ key: _RSA.Signing.PrivateKey, id: String) throws -> String {
        try box.seal(key.pemRepresentation, additionalData: "jwks:" + id)
    }

    func open(_ sealed: String, id: String) throws -> _RSA.Signing.PrivateKey {
        try _RSA.Signing.PrivateKey(pemRepresentation: box.open(sealed, additionalData: "jwks:" + id))
    }

    /// True for values in our sealed format (rows written by other software are skipped).
    static func isOurs(_ value: String) -> Bool { SecretBox.keyID(of: value) != nil }
}
