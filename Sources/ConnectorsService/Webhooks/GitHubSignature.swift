import Shared

/// GitHub's webhook signing: `X-Hub-Signature-256: sha256=` + hex HMAC-SHA256(secret, raw body).
/// (GitHub sends no timestamp; `X-GitHub-Delivery` deduplicates replays.)
struct GitHubSignature: Sendable {
    let secret: String?

    func verify(body: [UInt8], signature: String?) throws(WebhookRejection) {
        guard let secret, !secret.isEmpty else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard signature.hasPrefix("sha256="),
              HMACSigner.verifyHex(String(signature.dropFirst(7)), secret: secret, message: body)
        else { throw .badSignature }
    }
}
