import Logging
import Metrics
import Synchronization
import ServiceLifecycle
import Shared

/// Processes stored webhook events, at least once, on every replica. Several lanes work side by
/// side, so one slow handler (an agent run) does not hold up the rest. A lane claims a batch
/// (leased, the lease renewed while it works), handles each event in turn, records
/// `done`/`skipped` (finished events of all lanes are written together), retries failures with
/// exponential backoff and full jitter, and marks an event `failed` after `maxAttempts`. A lease
/// left by a crashed process expires and the event is claimed again. On SIGTERM each lane
/// finishes the event in hand and hands the rest of its batch back.
struct WebhookWorker: Service {
    struct Settings: Sendable {
        var lanes = 4
        var batch = 10
        var lease: Duration = .seconds(60)
        var idlePoll: Duration = .seconds(1)
        var maxAttempts = 8
        var retryBase: Duration = .seconds(2)
        var retryCap: Duration = .seconds(3600)
    }

    let queue: WebhookQueue
    let handlers: WebhookHandlers
    let settings: Settings
    let logger: Logger
    let id = "worker-" + RandomToken.string(length: 12)
    private let finished: GroupCommit<WebhookQueue.Finished, Void>

    init(queue: WebhookQueue, handlers: WebhookHandlers, settings: Settings, logger: Logger) {
        self.queue = queue
        self.handlers = handlers
        self.settings = settings
        self.logger = logger
        let id = self.id
        self.finished = GroupCommit { events in try await queue.finish(events, worker: id) }
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(settings.lanes, 1) { group.addTask { await lane() } }
        }
    }

    private func lane() async {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let events: [WebhookEvent]
            do {
                events = try await queue.claim(worker: id, limit: settings.batch, lease: settings.lease)
            } catch {
                logger.warning("could not claim webhook events", metadata: ["error": "\(error)"])
                events = []
            }
            if events.isEmpty {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: settings.idlePoll) }
                continue
            }
            let held = Mutex(Set(events.map(\.id)))
            let heartbeat = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: settings.lease / 3)
                    try? await queue.renew(Array(held.withLock { $0 }), worker: id, lease: settings.lease)
                }
            }
            defer { heartbeat.cancel() }
            for (index, event) in events.enumerated() {
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    try? await queue.release(events[index...].map(\.id), worker: id)
                    return
                }
                await process(event)
                held.withLock { _ = $0.remove(event.id) }
            }
        }
    }

    func process(_ event: WebhookEvent) async {
        let provider = [("provider", event.provider.rawValue)]
        do {
            switch try await handlers.handle(event) {
            case .done: try await finished.submit(.init(id: event.id, status: "done"))
            case .skipped(let reason): try await finished.submit(.init(id: event.id, status: "skipped", note: reason))
            }
            Counter(label: "webhooks_processed_total", dimensions: provider).increment()
        } catch {
            let message = String(describing: error).prefix(500)
            if event.attempts >= settings.maxAttempts {
                Counter(label: "webhooks_failed_total", dimensions: provider).increment()
                logger.error("gave up on a webhook event", metadata: ["event": "\(event.id)", "type": "\(event.eventType)", "error": "\(message)"])
                try? await queue.fail(event.id, worker: id, error: String(message))
            } else {
                Counter(label: "webhooks_retried_total", dimensions: provider).increment()
                logger.warning("webhook event failed; will retry", metadata: ["event": "\(event.id)", "attempt": "\(event.attempts)", "error": "\(message)"])
                try? await queue.retry(event.id, worker: id, error: String(message), delay: backoff(attempt: event.attempts))
            }
        }
    }

    /// Full jitter over an exponential ceiling: base·2^(attempt−1), capped.
    func backoff(attempt: Int) -> Duration {
        let ceiling = min(settings.retryBase.wholeMilliseconds << min(attempt - 1, 20), settings.retryCap.wholeMilliseconds)
        return .milliseconds(Int64.random(in: ceiling / 2 ... max(ceiling, 1)))
    }
}
