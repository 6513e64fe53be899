import Logging
import Metrics
import Synchronization
import ServiceLifecycle
import Shared

/// Processes stored webhook events, at least once, on every replica. One loop claims due events
/// (leased) up to a concurrency limit and runs each in its own task, so a slow handler (an agent
/// run) holds up nothing else; the leases of events in progress are renewed while they run.
/// Finished events are recorded `done`/`skipped` together (one statement for many), failures
/// retried with capped exponential backoff and equal jitter, and an event is marked `failed` after
/// `maxAttempts`. A lease left by a crashed process expires and the event is claimed again. On
/// SIGTERM nothing more is claimed and the events in progress are finished.
struct WebhookWorker: Service {
    struct Settings: Sendable {
        /// Events handled at once by this replica.
        var concurrency = 16
        /// The most events one claim takes.
        var batch = 50
        var lease: Duration = .seconds(60)
        /// The wait before looking again when the queue was empty.
        var idlePoll: Duration = .seconds(1)
        /// The wait before claiming again after a partial batch, so claims gather several events.
        var drainPause: Duration = .milliseconds(20)
        /// With fewer than half the slots free and events in progress, the wait for more to free
        /// before claiming: fast handlers would otherwise free slots one by one, and each claim
        /// (a statement of its own) would take a single event.
        var gatherPause: Duration = .milliseconds(2)
        var maxAttempts = 8
        var retryBase: Duration = .seconds(2)
        var retryCap: Duration = .seconds(3600)
    }

    let queue: WebhookQueue
    let handlers: WebhookHandlers
    let settings: Settings
    /// The events this loop claims; a replica runs one loop per lane.
    let lane: WebhookLane
    let logger: Logger
    let id = "worker-" + RandomToken.string(length: 12)
    private let finished: GroupCommit<WebhookQueue.Finished, Void>

    init(
        queue: WebhookQueue, handlers: WebhookHandlers, settings: Settings, lane: WebhookLane = .standard,
        logger: Logger
    ) {
        self.queue = queue
        self.handlers = handlers
        self.settings = settings
        self.lane = lane
        self.logger = logger
        let id = self.id
        self.finished = GroupCommit { events in try await queue.finish(events, worker: id) }
    }

    func run() async throws {
        // The ids of the events this worker is handling now (its tasks and the heartbeat share them).
        let inProgress = LockedBox(Set<Int64>())
        let (slotFreed, freeSlot) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // Every lease/3: renew our leases. On a task of its own, so a slow reclaim (below) never
        // delays a renewal past the lease and hands a running event to another worker.
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await queue.renew(Array(inProgress.withLock { $0 }), worker: id, lease: settings.lease)
                try await Task.sleep(for: settings.lease / 3)
            }
        }
        defer { heartbeat.cancel() }
        // Every lease/3: put back events whose worker died, of every lane — in the standard
        // loop only, so one replica gives one verdict on an event out of attempts.
        let reclaimer =
            lane != .standard
            ? nil
            : Task {
                while !Task.isCancelled {
                    if let counts = try? await queue.reclaimExpired(maxAttempts: settings.maxAttempts) {
                        if counts.requeued > 0 {
                            logger.notice(
                                "reclaimed webhook events whose lease expired",
                                metadata: ["count": "\(counts.requeued)"])
                        }
                        for provider in counts.failed {
                            Counter(label: "webhooks_failed_total", dimensions: [("provider", provider)]).increment()
                        }
                        if !counts.failed.isEmpty {
                            logger.error(
                                "gave up on webhook events whose worker stopped on every attempt",
                                metadata: ["count": "\(counts.failed.count)"])
                        }
                    }
                    try await Task.sleep(for: settings.lease / 3)
                }
            }
        defer { reclaimer?.cancel() }
        var slots = slotFreed.makeAsyncIterator()
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                var capacity = settings.concurrency - inProgress.withLock { $0.count }
                if capacity <= 0 {
                    await slots.next()
                    continue
                }
                // Some in progress and few slots free: let more free first.
                if capacity < min(settings.concurrency, settings.batch) / 2, capacity < settings.concurrency {
                    try? await Task.sleep(for: settings.gatherPause)
                    capacity = settings.concurrency - inProgress.withLock { $0.count }
                }
                let limit = min(capacity, settings.batch)
                let events: [WebhookEvent]
                do {
                    events = try await queue.claim(worker: id, lane: lane, limit: limit, lease: settings.lease)
                } catch {
                    logger.warning("could not claim webhook events", metadata: ["error": "\(error)"])
                    events = []
                }
                for event in events {
                    inProgress.withLock { _ = $0.insert(event.id) }
                    group.addTask {
                        await process(event)
                        inProgress.withLock { _ = $0.remove(event.id) }
                        freeSlot.yield()
                    }
                }
                if events.count < limit {
                    try? await cancelWhenGracefulShutdown {
                        try await Task.sleep(for: events.isEmpty ? settings.idlePoll : settings.drainPause)
                    }
                }
            }
        }
    }

    func process(_ event: WebhookEvent) async {
        let provider = [("provider", event.kind.provider.rawValue)]
        do {
            switch try await handlers.handle(event) {
            case .done: try await finished.submit(.init(id: event.id, status: .done))
            case .skipped(let reason): try await finished.submit(.init(id: event.id, status: .skipped, note: reason))
            }
            Counter(label: "webhooks_processed_total", dimensions: provider).increment()
        } catch {
            let message = String(describing: error).prefix(500)
            if event.attempts >= settings.maxAttempts {
                Counter(label: "webhooks_failed_total", dimensions: provider).increment()
                logger.error(
                    "gave up on a webhook event",
                    metadata: ["event": "\(event.id)", "type": "\(event.kind.type)", "error": "\(message)"])
                try? await queue.fail(event.id, worker: id, error: String(message))
            } else {
                Counter(label: "webhooks_retried_total", dimensions: provider).increment()
                logger.warning(
                    "webhook event failed; will retry",
                    metadata: ["event": "\(event.id)", "attempt": "\(event.attempts)", "error": "\(message)"])
                try? await queue.retry(
                    event.id, worker: id, error: String(message), delay: backoff(attempt: event.attempts))
            }
        }
    }

    /// Equal jitter over base·2^(attempt−1), capped.
    func backoff(attempt: Int) -> Duration {
        Backoff(base: settings.retryBase, cap: settings.retryCap, jitter: 0.5).delay(attempt: attempt)
    }
}
