import Logging
import Metrics
import ServiceLifecycle
import Shared

/// Processes stored webhook events, at least once, on every replica: claims a batch (leased),
/// handles each in turn, records `done`/`skipped`, retries failures with exponential backoff and
/// full jitter, and marks an event `failed` after `maxAttempts`. A lease left by a crashed
/// process expires and the event is claimed again. On SIGTERM the event in hand is finished and
/// the rest of the batch is handed back.
struct WebhookWorker: Service {
    struct Settings: Sendable {
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

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let events: [WebhookEvent]
            do {
                events = try await queue.claim(worker: id, limit: settings.batch, lease: settings.lease)
            } catch {
                logger.warning("could not claim webhook events", metadata: ["error": "\(error)"])
                events = []
            }
            for (index, event) in events.enumerated() {
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    try? await queue.release(events[index...].map(\.id), worker: id)
                    return
                }
                await process(event)
            }
            if events.isEmpty {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: settings.idlePoll) }
            }
        }
    }

    func process(_ event: WebhookEvent) async {
        let provider = [("provider", event.provider.rawValue)]
        do {
            switch try await handlers.handle(event) {
            case .done: try await queue.finish(event.id, worker: id, status: "done")
            case .skipped(let reason): try await queue.finish(event.id, worker: id, status: "skipped", note: reason)
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
