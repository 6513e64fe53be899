import Synchronization

/// Group commit for webhook ingest: concurrent deliveries are written by one multi-row INSERT
/// instead of one statement and transaction each. A delivery arriving while nothing is being
/// written starts a write at once (no added latency when idle); those arriving meanwhile ride in
/// the next write. Every caller still returns only after its own row is committed.
final class WebhookEventBatcher: Sendable {
    private struct Waiting {
        let event: IncomingWebhookEvent
        let continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var writing = false
    }

    private let repository: WebhookEventRepository
    private let maximumBatch: Int
    private let state = Mutex(State())

    init(repository: WebhookEventRepository, maximumBatch: Int = 500) {
        self.repository = repository
        self.maximumBatch = maximumBatch
    }

    /// Stores the event; false when it is a duplicate (see `WebhookEventRepository.insert`).
    func insert(_ event: IncomingWebhookEvent) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = state.withLock { state in
                state.queue.append(Waiting(event: event, continuation: continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if startWriter { Task { await self.writeUntilEmpty() } }
        }
    }

    private func writeUntilEmpty() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                guard !state.queue.isEmpty else {
                    state.writing = false
                    return []
                }
                let batch = Array(state.queue.prefix(maximumBatch))
                state.queue.removeFirst(batch.count)
                return batch
            }
            if batch.isEmpty { return }
            do {
                let stored = try await repository.insert(batch.map(\.event))
                for (waiting, inserted) in zip(batch, stored) { waiting.continuation.resume(returning: inserted) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
