import HTTPTypes
import Hummingbird
import Shared
import Synchronization

/// How webhook bodies are let into memory: each provider's deliveries up to what its events
/// need, and all deliveries in flight together up to a budget, so slow or oversized uploads
/// cannot exhaust the process. A body is read only after its headers passed the signature
/// precheck (`…Signature.precheck`).
final class WebhookIntake: Sendable {
    /// The most one delivery may carry, per provider: the 1 MiB every webhook may send. Slack
    /// and Linear events are a few KB, with room for the largest a message or an issue can be;
    /// GitHub caps payloads at 25 MB, but the events acted on here (installation lifecycle, with
    /// its repository list) fit in 1 MiB.
    enum Cap {
        static let slack = BodyLimit.webhook
        static let linear = BodyLimit.webhook
        static let github = BodyLimit.webhook
    }

    /// Bytes all deliveries being received or handled may hold at once (`WEBHOOK_INFLIGHT_BYTES`).
    let budget: Int
    private let held = Atomic<Int>(0)

    init(budget: Int) {
        self.budget = budget
    }

    /// Reads the body (at most `cap` bytes) and runs `handle` with it, holding a reservation of
    /// the declared length (or `cap` when none is declared) against the budget until `handle`
    /// returns. 413 past `cap`, 503 `WEBHOOKS_BUSY` with `Retry-After` when the budget is spent.
    func receive<T: Sendable>(
        _ request: Request, context: ConnectorsRequestContext, cap: Int,
        _ handle: ([UInt8]) async throws -> T
    ) async throws -> T {
        let declared = request.headers[.contentLength].flatMap(Int.init)
        if let declared, declared > cap { throw AppError.payloadTooLarge(limit: cap) }
        let reservation = max(0, min(declared ?? cap, cap))
        let total = held.wrappingAdd(reservation, ordering: .relaxed).newValue
        defer { held.wrappingSubtract(reservation, ordering: .relaxed) }
        guard total <= budget else {
            throw AppError(
                .serviceUnavailable, code: "WEBHOOKS_BUSY",
                message: "Too many webhook deliveries are being received; try again shortly.",
                headers: [.retryAfter: "1"])
        }
        var context = context
        context.maxUploadSize = cap
        let body = Array(try await RawBody.collect(request, context: context).readableBytesView)
        return try await handle(body)
    }
}
