import Foundation
import Shared

/// Slack's request signing: `X-Slack-Signature: v0=` + hex HMAC-SHA256(signing secret,
/// `v0:{X-Slack-Request-Timestamp}:{raw body}`), the timestamp within 5 minutes either way.
struct SlackSignature: Sendable {
    let secret: String?
    var tolerance: TimeInterval = 5 * 60

    func verify(body: [UInt8], timestamp: String?, signature: String?, now: Date = Date()) throws(WebhookRejection) {
        guard let secret, !secret.isEmpty else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard let timestamp, let seconds = Int64(timestamp) else { throw .missingTimestamp }
        guard abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= tolerance else { throw .staleTimestamp }
        guard signature.hasPrefix("v0=") else { throw .badSignature }
        let message = Array("v0:\(timestamp):".utf8) + body
        guard HMACSigner.verifyHex(String(signature.dropFirst(3)), secret: secret, message: message) else { throw .badSignature }
    }
}
