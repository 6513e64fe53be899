import Shared

/// GitHub's webhook signing: `X-Hub-Signature-256: sha256=` + hex HMAC-SHA256(secret, raw body).
/// (GitHub sends no timestamp; `X-GitHub-Delivery` deduplicates replays.)
struct GitHubSignature: Sendable {
    /// nil when the secret is not configured: every delivery is then refused.
    let signer: HMACSigner?

    init(secret: String?) {
        self.signer = secret.flatMap { $0.isEmpty ? nil : HMACSigner(secret: $0) }
    }

    /// What the header alone can refuse, before the body is read.
    func precheck(signature: String?) throws(WebhookRejection) {
        guard signer != nil else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard signature.hasPrefix("sha256="), WebhookRejection.isSHA256Hex(signature.dropFirst(7)) else {
            throw .badSignature
        }
    }

    func verify(body: [UInt8], signature: String?) throws(WebhookRejection) {
        try precheck(signature: signature)
        guard let signer, let signature, signer.verifyHex(String(signature.dropFirst(7)), message: body) else {
            throw .badSignature
        }
    }
}
