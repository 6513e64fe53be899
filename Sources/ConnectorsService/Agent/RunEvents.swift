import Foundation
import Synchronization

/// Streams a run's progress to whoever in this process is listening (an open server-sent
/// events request), wherever in the process the run continues after a pause.
final class RunEvents: Sendable {
    enum Update: Sendable {
        case event(AgentRunner.Event)
        /// The run ended or paused again.
        case stopped(AgentRun)
    }

    private let listeners = Mutex([String: [UUID: AsyncStream<Update>.Continuation]]())

    init() {}

    /// Updates of run `id` from now on, until the listener stops iterating.
    func listen(to id: String) -> AsyncStream<Update> {
        let (stream, continuation) = AsyncStream.makeStream(of: Update.self)
        let key = UUID()
        listeners.withLock { $0[id, default: [:]][key] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.listeners.withLock { listeners in
                listeners[id]?[key] = nil
                if listeners[id]?.isEmpty == true { listeners[id] = nil }
            }
        }
        return stream
    }

    func publish(_ update: Update, run id: String) {
        for continuation in listeners.withLock({ Array(($0[id] ?? [:]).values) }) { continuation.yield(update) }
    }

    /// What the runner emits for run `id`, handed to its listeners.
    func emitter(for id: String) -> @Sendable (AgentRunner.Event) async -> Void {
        { [self] event in publish(.event(event), run: id) }
    }
}
