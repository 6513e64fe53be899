import Synchronization

/// Group commit: concurrent callers' items are written together by one `write` call instead of
/// one statement (and transaction) each. An item arriving while nothing is being written starts
/// a write at once — no added latency when idle; items arriving meanwhile ride in the next one.
/// Each caller returns only after the write holding its item has finished, with its own result.
public final class GroupCommit<Item: Sendable, Result: Sendable>: Sendable {
    public typealias Write = @Sendable ([Item]) async throws -> [Result]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Result, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var writing = false
    }

    private let write: Write
    private let maximumBatch: Int
    private let executor: (any TaskExecutor)?
    private let state = Mutex(State())

    /// `write` must answer one result per item, in order. The writer runs on `executor` when
    /// given (an event loop: its awaits then resume there instead of on Swift's cooperative pool,
    /// and no pool thread is woken per batch).
    public init(maximumBatch: Int = 500, executor: (any TaskExecutor)? = nil, write: @escaping Write) {
        self.write = write
        self.maximumBatch = maximumBatch
        self.executor = executor
    }

    public func submit(_ item: Item) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = state.withLock { state in
                state.queue.append(Waiting(item: item, continuation: continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if startWriter { Task(executorPreference: executor) { await self.writeUntilEmpty() } }
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
                let results = try await write(batch.map(\.item))
                guard results.count == batch.count else { throw MismatchedResults() }
                for (waiting, result) in zip(batch, results) { waiting.continuation.resume(returning: result) }
            } catch {
                guard batch.count > 1 else {
                    batch[0].continuation.resume(throwing: error)
                    continue
                }
                // One item the store refuses must not fail everyone it was batched with: each
                // is written again on its own, and only its own failure reaches its caller.
                for waiting in batch {
                    do {
                        let results = try await write([waiting.item])
                        guard results.count == 1 else { throw MismatchedResults() }
                        waiting.continuation.resume(returning: results[0])
                    } catch {
                        waiting.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    struct MismatchedResults: Error {}
}
