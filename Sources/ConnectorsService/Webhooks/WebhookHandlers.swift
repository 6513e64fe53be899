import Logging

/// What handling an event came to.
enum WebhookOutcome: Equatable, Sendable {
    case done
    /// Recorded as `skipped` with the reason — stored, seen, deliberately not acted on.
    case skipped(String)
}

/// A stored delivery as the worker hands it to a handler.
struct WebhookEvent: Sendable {
    let id: Int64
    let kind: WebhookEventKind
    let payload: WebhookPayload
    /// Including the current one.
    let attempts: Int
}

/// Which of a replica's worker loops claims an event: lifecycle events (uninstalls, revoked
/// tokens, suspensions — cheap, and urgent, since until they apply the connections stay usable)
/// have a loop of their own, so a burst of slow agent runs cannot hold them up.
enum WebhookLane: String, Sendable {
    case standard, lifecycle
}

/// Acts on the events of some kinds. Handlers are idempotent: the worker delivers at least once.
protocol WebhookHandler: Sendable {
    /// The kinds this handler takes.
    var handles: [WebhookEventKind] { get }
    /// The loop that claims them (`standard` unless said otherwise).
    var lane: WebhookLane { get }
    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome
}

extension WebhookHandler {
    var lane: WebhookLane { .standard }
}

/// The handlers by the kind they take; an event no handler takes is recorded `skipped`.
struct WebhookHandlers: Sendable {
    private let byKind: [WebhookEventKind: any WebhookHandler]

    /// Where two handlers take the same kind, the later one wins.
    init(_ handlers: [any WebhookHandler]) {
        var byKind = [WebhookEventKind: any WebhookHandler]()
        for handler in handlers {
            for kind in handler.handles { byKind[kind] = handler }
        }
        self.byKind = byKind
    }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard let handler = byKind[event.kind] else { return .skipped(Self.unhandled(event.kind)) }
        return try await handler.handle(event)
    }

    /// Whether some handler takes `kind`. The receivers store an event no handler takes as
    /// `skipped` at once, so the worker never claims it.
    func take(_ kind: WebhookEventKind) -> Bool { byKind[kind] != nil }

    /// The lane of the handler that takes `kind`.
    func lane(for kind: WebhookEventKind) -> WebhookLane { byKind[kind]?.lane ?? .standard }

    /// Why an event of `kind` was recorded `skipped` without being handled.
    static func unhandled(_ kind: WebhookEventKind) -> String { "no handler for \(kind)" }
}
