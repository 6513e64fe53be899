import Crypto

/// Random single-use tokens (OAuth state, link codes) that also carry an HMAC-SHA256 under a
/// server secret: `nonce.mac`. A forged or truncated value is refused before any lookup, and
/// the purpose is bound in, so a state can never be replayed as a link code.
public struct SignedToken: Sendable {
    let signer: HMACSigner
    let purpose: String

    public init(secret: String, purpose: String) {
        self.signer = HMACSigner(secret: secret)
        self.purpose = purpose
    }

    /// A fresh token with `byteCount` random bytes.
    public func make(byteCount: Int = 24) -> String {
        let nonce = RandomToken.base64URL(byteCount: byteCount)
        return nonce + "." + mac(nonce)
    }

    /// True when `token` is one of ours for this purpose (constant-time comparison).
    public func isValid(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 128 else { return false }
        return ConstantTime.equals(Array(parts[1].utf8), Array(mac(String(parts[0])).utf8))
    }

    /// SHA-256 of the token, hex: what is stored, so a database leak reveals no usable code.
    public static func digest(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    private func mac(_ nonce: String) -> String {
        Base64URL.encode(signer.sha256(Array((purpose + ":" + nonce).utf8)))
    }
}
