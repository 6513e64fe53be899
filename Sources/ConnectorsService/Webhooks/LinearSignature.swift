import Foundation
import Shared

/// Linear's webhook signing: `Linear-Signature` = hex HMAC-SHA256(webhook secret, raw body),
/// and the body's `webhookTimestamp` (milliseconds) within 60 seconds. Returns the fields of the
/// body the receiver routes by, which the timestamp check had to read anyway.
struct LinearSignature: Sendable {
    /// nil when the secret is not configured: every delivery is then refused.
    let signer: HMACSigner?
    let tolerance: TimeInterval

    init(secret: String?, tolerance: TimeInterval = 60) {
        self.signer = secret.flatMap { $0.isEmpty ? nil : HMACSigner(secret: $0) }
        self.tolerance = tolerance
    }

    /// What the receiver reads of a Linear delivery.
    struct Envelope: Decodable, Sendable {
        let webhookTimestamp: Double?
        let type: String?
        let action: String?
    }

    /// What the header alone can refuse, before the body is read (the timestamp is in the body).
    func precheck(signature: String?) throws(WebhookRejection) {
        guard signer != nil else { throw .secretNotConfigured }
        guard let signature, !signature.isEmpty else { throw .missingSignature }
        guard WebhookRejection.isSHA256Hex(Substring(signature)) else { throw .badSignature }
    }

    @discardableResult
    func verify(body: [UInt8], signature: String?, now: Date = Date()) throws(WebhookRejection) -> Envelope {
        try precheck(signature: signature)
        guard let signer, let signature else { throw .missingSignature }
        guard signer.verifyHex(signature, message: body) else { throw .badSignature }
        // Read only after the signature holds: the timestamp is part of what was signed.
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body)),
            let milliseconds = envelope.webhookTimestamp
        else {
            throw .missingTimestamp
        }
        guard abs(now.timeIntervalSince1970 - milliseconds / 1000) <= tolerance else { throw .staleTimestamp }
        return envelope
    }
}
