import Shared

/// Why a webhook delivery was refused. Every case is 401 and nothing is stored; the reason
/// labels the `webhooks_rejected_total` metric and the log line, never the response.
enum WebhookRejection: String, Error {
    case secretNotConfigured = "secret_not_configured"
    case missingSignature = "missing_signature"
    case badSignature = "bad_signature"
    case missingTimestamp = "missing_timestamp"
    case staleTimestamp = "stale_timestamp"

    var appError: AppError {
        switch self {
        case .secretNotConfigured:
            AppError.unauthorized("WEBHOOK_NOT_CONFIGURED", "This webhook's signing secret is not configured.")
        default:
            AppError.unauthorized("INVALID_SIGNATURE", "The webhook signature is missing, invalid or stale.")
        }
    }

    /// 64 hex digits: the only shape an HMAC-SHA256 signature can have, so anything else is
    /// refused before the body is read.
    static func isSHA256Hex(_ text: Substring) -> Bool {
        text.utf8.count == 64 && Hex.decode(String(text)) != nil
    }
}
