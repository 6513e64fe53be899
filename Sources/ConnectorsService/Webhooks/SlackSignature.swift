import Foundation
import Shared

/// Slack's request signing: `X-Slack-Signature: v0=` + hex HMAC-SHA256(signing secret,
/// `v0:{X-Slack-Request-Timestamp}:{raw body}`), the timestamp within 5 minutes either way.
struct SlackSignature: Sendable {
    /// nil when the secret is not configured: every delivery is then refused.
    let signer: HMACSigner?
    let tolerance: TimeInterval

    init(secret: String?, tolerance: TimeInterval = 5 * 60) {
        self.signer = secret.flatMap { $0.isEmpty ? nil : HMACSigner(secret: $0) }
        self.tolerance = tolerance
    }

    /// What the headers alone can refuse, checked before the body is read: no secret, a missing
    /// or malformed signature, a missing or stale timestamp.
    func precheck(timestamp: String?, signature: String?, now: Date = Date()) throws(WebhookRejection) {
        guard signer != nil else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard let timestamp, let seconds = Int64(timestamp) else { throw .missingTimestamp }
        guard abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= tolerance else { throw .staleTimestamp }
        guard signature.hasPrefix("v0="), WebhookRejection.isSHA256Hex(signature.dropFirst(3)) else {
            throw .badSignature
        }
    }

    func verify(body: [UInt8], timestamp: String?, signature: String?, now: Date = Date()) throws(WebhookRejection) {
        try precheck(timestamp: timestamp, signature: signature, now: now)
        guard let signer, let timestamp, let signature else { throw .missingSignature }
        let message = Array("v0:\(timestamp):".utf8) + body
        guard signer.verifyHex(String(signature.dropFirst(3)), message: message) else { throw .badSignature }
    }
}
