import Crypto
import CryptoExtras
import Foundation
import Shared

/// An RS256 signer for verifier tests: its own key and JWKS, and tokens with any header and
/// claims — including the forged kinds an attacker would send.
public struct TestTokenIssuer: Sendable {
    public let kid: String
    public let privateKey: _RSA.Signing.PrivateKey
    public let issuer: String

    public init(kid: String = "test-key-1", issuer: String = "https://connectors.test") throws {
        self.kid = kid
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        self.issuer = issuer
    }

    /// The JWKS document publishing the public key.
    public var jwks: String {
        let primitives = try! privateKey.publicKey.getKeyPrimitives()
        return
            #"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"\#(kid)","n":"\#(Base64URL.encode(primitives.modulus))","e":"\#(Base64URL.encode(primitives.publicExponent))"}]}"#
    }

    /// The spec's claims for a user, valid for 15 minutes from now, with `changes` applied
    /// (`NSNull()` removes a claim).
    public func claims(sub: String = "user-1", _ changes: [String: Any] = [:]) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = [
            "sub": sub, "email": "\(sub)@example.com", "name": "Test", "emailVerified": true,
            "iat": now, "exp": now + 900, "iss": issuer, "aud": issuer,
        ]
        for (key, value) in changes { claims[key] = value is NSNull ? nil : value }
        return claims
    }

    /// A correctly signed RS256 token.
    public func token(sub: String = "user-1", claims changes: [String: Any] = [:], header: [String: Any]? = nil)
        -> String
    {
        let header = header ?? ["alg": "RS256", "kid": kid, "typ": "JWT"]
        let input = Self.part(header) + "." + Self.part(claims(sub: sub, changes))
        let signature = try! privateKey.signature(
            for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }

    /// An OAuth access token for the MCP endpoint (RFC 9068), as the auth service issues them.
    public func accessToken(
        sub: String = "user-1", scope: String = "connectors:read connectors:write", clientId: String = "client-1",
        grantId: String = "grant-1", claims changes: [String: Any] = [:]
    ) -> String {
        var all: [String: Any] = [
            "aud": issuer + "/mcp", "scope": scope, "client_id": clientId, "azp": clientId, "sid": grantId,
            "email": NSNull(), "name": NSNull(), "emailVerified": NSNull(),
        ]
        for (key, value) in changes { all[key] = value }
        return token(sub: sub, claims: all, header: ["alg": "RS256", "kid": kid, "typ": "at+jwt"])
    }

    /// `alg: none` with an empty signature.
    public func unsignedToken() -> String {
        Self.part(["alg": "none", "kid": kid, "typ": "JWT"]) + "." + Self.part(claims()) + "."
    }

    /// HS256 "signed" with the public key's PEM as the HMAC secret (the classic key confusion).
    public func hs256WithPublicKey() -> String {
        let input = Self.part(["alg": "HS256", "kid": kid, "typ": "JWT"]) + "." + Self.part(claims())
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(input.utf8), using: SymmetricKey(data: Array(privateKey.publicKey.pemRepresentation.utf8)))
        return input + "." + Base64URL.encode(Array(mac))
    }

    static func part(_ object: [String: Any]) -> String {
        Base64URL.encode(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
