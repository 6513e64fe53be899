import Foundation
import Shared

/// Linear's webhook signing: `Linear-Signature` = hex HMAC-SHA256(webhook secret, raw body),
/// and the body's `webhookTimestamp` (milliseconds) within 60 seconds. Returns the parsed body,
/// which the timestamp check had to read anyway.
struct LinearSignature: Sendable {
    /// nil when the secret is not configured: every delivery is then refused.
    let signer: HMACSigner?
    let tolerance: TimeInterval

    init(secret: String?, tolerance: TimeInterval = 60) {
        self.signer = secret.flatMap { $0.isEmpty ? nil : HMACSigner(secret: $0) }
        self.tolerance = tolerance
    }

    @discardableResult
    func verify(body: [UInt8], signature: String?, now: Date = Date()) throws(WebhookRejection) -> [String: Any] {
        guard let signer else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard signer.verifyHex(signature, message: body) else { throw .badSignature }
        // Read only after the signature holds: the timestamp is part of what was signed.
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard let milliseconds = (object?["webhookTimestamp"] as? NSNumber)?.doubleValue else { throw .missingTimestamp }
        guard abs(now.timeIntervalSince1970 - milliseconds / 1000) <= tolerance else { throw .staleTimestamp }
        return object ?? [:]
    }
}
