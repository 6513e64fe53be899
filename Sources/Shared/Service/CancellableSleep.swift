import NIOCore
import NIOPosix
import Synchronization

/// Sleeps for `duration` on an event loop's timer; cancelled, it throws `CancellationError` at
/// once and leaves nothing behind.
///
/// For bounds raced against work that usually wins (a pooled query's lease wait, a readiness
/// check's timeout, a worker's wake-up). `Task.sleep` on Linux keeps its wake-up job and a
/// Dispatch timer until the deadline even when cancelled early, so every such race left one
/// behind for the bound's whole length: under load, tens of thousands at once (about 20 MiB of
/// heap that fragmentation then kept) and a Dispatch thread woken for each when it expired. An
/// event-loop timer is removed when cancelled, and scheduled from its own loop (where requests
/// run) it wakes nothing.
public func cancellableSleep(
    for duration: Duration, on eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()
) async throws {
    let sleeper = Sleeper()
    try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { continuation in
            sleeper.start(continuation, after: TimeAmount(duration), on: eventLoop)
        }
    } onCancel: {
        sleeper.finish(throwing: CancellationError())
    }
}

/// One sleep: whichever comes first of the timer and cancellation resumes the waiting task,
/// once; cancellation also removes the timer.
private final class Sleeper: NIOScheduledCallbackHandler, Sendable {
    private struct State {
        var continuation: UnsafeContinuation<Void, any Error>?
        var timer: NIOScheduledCallback?
        var finished = false
    }

    private let state = Mutex(State())

    func start(
        _ continuation: UnsafeContinuation<Void, any Error>, after amount: TimeAmount, on eventLoop: any EventLoop
    ) {
        let cancelledAlready = state.withLock { state in
            if !state.finished { state.continuation = continuation }
            return state.finished
        }
        if cancelledAlready { return continuation.resume(throwing: CancellationError()) }
        let timer: NIOScheduledCallback
        do {
            timer = try eventLoop.scheduleCallback(in: amount, handler: self)
        } catch {
            return finish(throwing: error)
        }
        // Cancelled while the timer was being set: remove it (the loop's lock is never taken
        // under ours, since the loop calls `didCancelScheduledCallback` under its own).
        let removeTimer = state.withLock { state in
            if !state.finished { state.timer = timer }
            return state.finished
        }
        if removeTimer { timer.cancel() }
    }

    /// Ends the sleep early (cancellation, an event loop that is shutting down).
    func finish(throwing error: any Error) {
        let (continuation, timer) = end()
        timer?.cancel()
        continuation?.resume(throwing: error)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        end().continuation?.resume()
    }

    /// Marks the sleep over and hands out what is left to resume and remove: each only once,
    /// to whichever of the timer and cancellation comes first.
    private func end() -> (continuation: UnsafeContinuation<Void, any Error>?, timer: NIOScheduledCallback?) {
        state.withLock { state in
            state.finished = true
            defer { (state.continuation, state.timer) = (nil, nil) }
            return (state.continuation, state.timer)
        }
    }

    func didCancelScheduledCallback(eventLoop: some EventLoop) {
        finish(throwing: CancellationError())
    }
}
