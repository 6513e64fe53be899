import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Shared

/// `POST /slack/events`, `/linear/events` and `/github/events`: refuse from the headers what
/// cannot be signed (before reading a byte of the body), read the body within the provider's
/// cap and the process's budget (`WebhookIntake`), verify the signature over the raw bytes, store the event (deduplicated), answer at once. Processing is the worker's; an
/// event of a kind no handler takes is stored already `skipped`, so it costs the queue nothing.
struct WebhookRoutes: Sendable {
    let slack: SlackSignature
    let linear: LinearSignature
    let github: GitHubSignature
    /// Which kinds the worker acts on.
    let handlers: WebhookHandlers
    /// What bodies may be read, and how many bytes at once.
    let intake: WebhookIntake
    /// Stores verified deliveries; concurrent ones share one INSERT.
    let events: GroupCommit<IncomingWebhookEvent, Bool>
    /// Failed signatures per source IP (its /64 for IPv6): a source that keeps failing is
    /// refused before its body is read.
    let failures: FailureLockout
    let logger: Logger
    /// Made once: finding a counter in the registry costs more than incrementing it, and every
    /// delivery counts.
    let counters = WebhookCounters()

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // No user and no rate limit (senders retry), a 1 MiB body cap, and the signature checked
        // over the raw bytes before anything else.
        let group = router.group().add(middleware: policies.body.webhook)
        /// Slack Events API deliveries (and its `url_verification` handshake).
        group.post("/slack/events") { request, context in
            let timestamp = request.headers[.slackTimestamp]
            let signature = request.headers[.slackSignature]
            try await check(.slack, context) { try slack.precheck(timestamp: timestamp, signature: signature) }
            return try await intake.receive(request, context: context, cap: WebhookIntake.Cap.slack) { body in
                try await check(.slack, context) {
                    try slack.verify(body: body, timestamp: timestamp, signature: signature)
                }
                let envelope = try decode(SlackEnvelope.self, body)
                if envelope.type == "url_verification" {
                    guard let challenge = envelope.challenge else {
                        throw AppError.badRequest("INVALID_PAYLOAD", "url_verification without a challenge.")
                    }
                    return try Response.json(["challenge": challenge])
                }
                // Slack says it is holding back this app's events for the rest of the minute
                // (over 30,000 an hour for one workspace). Nothing to store; a 2xx keeps the
                // subscription's error rate down.
                if envelope.type == "app_rate_limited" {
                    logger.warning(
                        "Slack is rate-limiting this app's events", metadata: ["team": "\(envelope.team_id ?? "")"])
                    return Self.ok
                }
                guard let eventID = envelope.event_id, !eventID.isEmpty else {
                    throw AppError.badRequest("INVALID_PAYLOAD", "A Slack event must carry an event_id.")
                }
                return try await store(
                    .slack, key: eventID, type: envelope.event?.type ?? envelope.type ?? "unknown", body: body)
            }
        }
        /// Slack interactivity: clicks on the app's buttons (approvals), a form whose `payload`
        /// field is the JSON, signed like events. Stored like events; the worker decides.
        group.post("/slack/interactions") { request, context in
            let timestamp = request.headers[.slackTimestamp]
            let signature = request.headers[.slackSignature]
            try await check(.slack, context) { try slack.precheck(timestamp: timestamp, signature: signature) }
            return try await intake.receive(request, context: context, cap: WebhookIntake.Cap.slack) { body in
                try await check(.slack, context) {
                    try slack.verify(body: body, timestamp: timestamp, signature: signature)
                }
                let form = Dictionary(
                    FormEncoding.pairs(String(decoding: body, as: UTF8.self)), uniquingKeysWith: { first, _ in first })
                guard let payload = form["payload"] else {
                    throw AppError.badRequest("INVALID_PAYLOAD", "A Slack interaction must carry a payload field.")
                }
                let envelope = try decode(SlackInteractionEnvelope.self, Array(payload.utf8))
                guard let key = envelope.trigger_id ?? envelope.actions?.first?.action_ts, !key.isEmpty else {
                    throw AppError.badRequest("INVALID_PAYLOAD", "A Slack interaction must carry a trigger_id.")
                }
                return try await store(
                    .slack, key: "interaction:" + key, type: envelope.type, body: Array(payload.utf8))
            }
        }
        /// Linear webhooks (issues, OAuth app events, agent sessions).
        group.post("/linear/events") { request, context in
            let signature = request.headers[.linearSignature]
            try await check(.linear, context) { try linear.precheck(signature: signature) }
            return try await intake.receive(request, context: context, cap: WebhookIntake.Cap.linear) { body in
                let envelope = try await check(.linear, context) { try linear.verify(body: body, signature: signature) }
                guard let delivery = request.headers[.linearDelivery], !delivery.isEmpty else {
                    throw AppError.badRequest("MISSING_DELIVERY_ID", "Linear-Delivery is required.")
                }
                // The type comes from the signed body: the `Linear-Event` header is not signed,
                // and a captured delivery resent under another header must not change kind.
                let type = envelope.type ?? "unknown"
                let action = envelope.action
                return try await store(
                    .linear, key: delivery, type: action.map { "\(type).\($0)" } ?? type, body: body)
            }
        }
        /// GitHub App webhooks; `ping` is acknowledged without being stored.
        group.post("/github/events") { request, context in
            let signature = request.headers[.hubSignature256]
            try await check(.github, context) { try github.precheck(signature: signature) }
            return try await intake.receive(request, context: context, cap: WebhookIntake.Cap.github) { body in
                try await check(.github, context) { try github.verify(body: body, signature: signature) }
                let action = try decode(GitHubEnvelope.self, body).action
                let event = request.headers[.githubEvent] ?? "unknown"
                if event == "ping" { return Self.ok }
                guard let delivery = request.headers[.githubDelivery], !delivery.isEmpty else {
                    throw AppError.badRequest("MISSING_DELIVERY_ID", "X-GitHub-Delivery is required.")
                }
                return try await store(
                    .github, key: delivery, type: action.map { "\(event).\($0)" } ?? event, body: body)
            }
        }
    }

    /// Runs a signature check; a failure is counted against the source, logged and answered
    /// 401 — 429 once the source is locked out for failing too often. A delivery that verifies
    /// is taken whatever its source's count: providers send from shared addresses, so anyone
    /// pointing a webhook with a wrong secret at this service (their own GitHub repository,
    /// Slack app or Linear workspace) fails from the addresses real deliveries come from.
    private func check<T>(_ provider: ProviderID, _ context: ConnectorsRequestContext, _ verify: () throws -> T)
        async throws -> T
    {
        do {
            return try verify()
        } catch let error as WebhookRejection {
            Counter(
                label: "webhooks_rejected_total",
                dimensions: [("provider", provider.rawValue), ("reason", error.rawValue)]
            ).increment()
            logger.notice(
                "rejected a webhook", metadata: ["provider": "\(provider.rawValue)", "reason": "\(error.rawValue)"])
            let source = RateLimitSource.key(for: context.clientIP)
            let lockedOut = failures.refusalSeenHere(source) != nil
            await failures.recordFailure(source)
            if lockedOut, let refusal = failures.refusalSeenHere(source) {
                throw AppError(
                    .tooManyRequests, code: "TOO_MANY_FAILED_SIGNATURES",
                    message: "Too many deliveries from this address failed their signature check; try again later.",
                    headers: [.retryAfter: String(max(1, (refusal.resetMilliseconds + 999) / 1000))])
            }
            throw error.appError
        }
    }

    /// The few fields routing needs, decoded without building the whole tree (the worker decodes
    /// the payload when it handles the event).
    private struct SlackEnvelope: Decodable {
        struct Event: Decodable { let type: String? }
        let type: String?
        let challenge: String?
        let team_id: String?
        let event_id: String?
        let event: Event?
    }

    private struct SlackInteractionEnvelope: Decodable {
        struct Action: Decodable { let action_ts: String? }
        let type: String
        let trigger_id: String?
        let actions: [Action]?
    }

    private struct GitHubEnvelope: Decodable {
        let action: String?
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw AppError.badRequest("INVALID_JSON", "The webhook body is not a JSON object.")
        }
    }

    /// `{"ok":true}`, encoded once.
    private static let okBody = ByteBuffer(string: #"{"ok":true}"#)
    private static var ok: Response { Response.json(encoded: okBody) }

    /// Stored before the answer; a duplicate is answered 200 too, and not queued again.
    private func store(_ provider: ProviderID, key: String, type: String, body: [UInt8]) async throws -> Response {
        let kind = WebhookEventKind(provider, type)
        let taken = handlers.take(kind)
        let inserted = try await events.submit(
            IncomingWebhookEvent(
                provider: provider, deliveryKey: key, eventType: type, payload: String(decoding: body, as: UTF8.self),
                skipped: taken ? nil : WebhookHandlers.unhandled(kind), lane: handlers.lane(for: kind)))
        (inserted ? counters.received : counters.duplicate)[provider]?.increment()
        // Recorded as handled, as the worker would have done.
        if inserted, !taken { counters.processed[provider]?.increment() }
        return Self.ok
    }
}

/// The intake's per-provider counters.
struct WebhookCounters: Sendable {
    let received = Self.perProvider("webhooks_received_total")
    let duplicate = Self.perProvider("webhooks_duplicate_total")
    let processed = Self.perProvider("webhooks_processed_total")

    private static func perProvider(_ label: String) -> [ProviderID: Counter] {
        Dictionary(
            uniqueKeysWithValues: ProviderID.allCases.map {
                ($0, Counter(label: label, dimensions: [("provider", $0.rawValue)]))
            })
    }
}

extension HTTPField.Name {
    static let slackSignature = Self("X-Slack-Signature")!
    static let slackTimestamp = Self("X-Slack-Request-Timestamp")!
    static let linearSignature = Self("Linear-Signature")!
    static let linearDelivery = Self("Linear-Delivery")!
    static let linearEvent = Self("Linear-Event")!
    static let hubSignature256 = Self("X-Hub-Signature-256")!
    static let githubEvent = Self("X-GitHub-Event")!
    static let githubDelivery = Self("X-GitHub-Delivery")!
}
