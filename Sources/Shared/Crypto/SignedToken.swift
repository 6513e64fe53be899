import Crypto

/// Tokens that carry an HMAC-SHA256 under a server secret: `head.mac`, where the head is random
/// (link codes, looked up server-side) or a base64url payload (a connect flow's self-contained
/// state). A forged or truncated value is refused before any lookup, and the purpose is bound
/// in, so a state can never be replayed as a link code.
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

    /// A token whose head is `payload`, base64url: readable by anyone, forgeable by no one.
    public func make(payload: some Sequence<UInt8>) -> String {
        let head = Base64URL.encode(payload)
        return head + "." + mac(head)
    }

    /// True when `token` is one of ours for this purpose (constant-time comparison).
    public func isValid(_ token: String) -> Bool {
        verifiedHead(token, maxLength: 128) != nil
    }

    /// The payload of a token made by `make(payload:)` for this purpose; nil when forged.
    public func payload(of token: String, maxLength: Int = 1024) -> [UInt8]? {
        verifiedHead(token, maxLength: maxLength).flatMap(Base64URL.decode)
    }

    private func verifiedHead(_ token: String, maxLength: Int) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= maxLength else { return nil }
        let head = String(parts[0])
        return ConstantTime.equals(Array(parts[1].utf8), Array(mac(head).utf8)) ? head : nil
    }

    /// SHA-256 of the token, hex: what is stored, so a database leak reveals no usable code.
    public static func digest(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    private func mac(_ nonce: String) -> String {
        Base64URL.encode(signer.sha256(Array((purpose + ":" + nonce).utf8)))
    }
}
