import NIOCore
import NIOPosix
import Shared
import Dispatch
import Testing

/// `cancellableSleep`: ends at its deadline, or at once when cancelled, and a cancelled sleep
/// leaves no timer behind (what `Task.sleep` did, for the bound's whole length).
@Suite struct CancellableSleepTests {
    @Test func sleepsUntilItsDeadline() async throws {
        let loop = try CountingEventLoop()
        defer { loop.close() }
        let clock = ContinuousClock()
        let started = clock.now
        try await cancellableSleep(for: .milliseconds(50), on: loop)
        #expect(clock.now - started >= .milliseconds(50))
        #expect(loop.counts == .init(scheduled: 1, fired: 1, cancelled: 0))
    }

    @Test func cancellingEndsTheSleepAndRemovesItsTimer() async throws {
        let loop = try CountingEventLoop()
        defer { loop.close() }
        let sleeping = Task { try await cancellableSleep(for: .seconds(600), on: loop) }
        // Cancel once the timer is set, so the test covers the common case (a bound that lost).
        while loop.counts.scheduled == 0 { await Task.yield() }
        sleeping.cancel()
        await #expect(throws: CancellationError.self) { try await sleeping.value }
        #expect(loop.counts == .init(scheduled: 1, fired: 0, cancelled: 1))
    }

    @Test func aTaskCancelledBeforeSleepingSetsNoTimer() async throws {
        let loop = try CountingEventLoop()
        defer { loop.close() }
        let sleeping = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await cancellableSleep(for: .seconds(600), on: loop)
        }
        await #expect(throws: CancellationError.self) { try await sleeping.value }
        #expect(loop.counts.scheduled == loop.counts.cancelled)
        #expect(loop.counts.fired == 0)
    }

    @Test func boundsThatLoseTheRaceLeaveNoTimers() async throws {
        let loop = try CountingEventLoop()
        defer { loop.close() }
        // What every pooled query and readiness check does: work raced against a bound it beats.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await withThrowingTaskGroup(of: Int?.self) { race in
                        race.addTask { index }
                        race.addTask {
                            try await cancellableSleep(for: .seconds(600), on: loop)
                            return nil
                        }
                        defer { race.cancelAll() }
                        return try await race.next()!!
                    }
                }
            }
            var sum = 0
            for try await index in group { sum += index }
            #expect(sum == (0..<500).reduce(0, +))
        }
        let counts = loop.counts
        #expect(counts.fired == 0)
        #expect(counts.scheduled == counts.cancelled, "every timer set is removed: \(counts)")
    }
}

/// An event loop that counts the timers set through it, fired and removed (the real loop does
/// the work).
private final class CountingEventLoop: EventLoop, Sendable {
    struct Counts: Equatable, Sendable {
        var scheduled = 0
        var fired = 0
        var cancelled = 0
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let base: any EventLoop
    private let state = LockedBox(Counts())

    init() throws { base = group.next() }

    var counts: Counts { state.withLock { $0 } }
    func close() { try? group.syncShutdownGracefully() }

    var inEventLoop: Bool { base.inEventLoop }
    func execute(_ task: @escaping @Sendable () -> Void) { base.execute(task) }
    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        base.scheduleTask(deadline: deadline, task)
    }
    func scheduleTask<T>(in amount: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        base.scheduleTask(in: amount, task)
    }
    func preconditionInEventLoop(file: StaticString, line: UInt) {
        base.preconditionInEventLoop(file: file, line: line)
    }
    func preconditionNotInEventLoop(file: StaticString, line: UInt) {
        base.preconditionNotInEventLoop(file: file, line: line)
    }
    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        base.shutdownGracefully(queue: queue, callback)
    }

    func scheduleCallback(at deadline: NIODeadline, handler: some (NIOScheduledCallbackHandler & Sendable))
        throws -> NIOScheduledCallback
    {
        state.withLock { $0.scheduled += 1 }
        return try base.scheduleCallback(at: deadline, handler: Counting(inner: handler, state: state))
    }

    func cancelScheduledCallback(_ scheduledCallback: NIOScheduledCallback) {
        base.cancelScheduledCallback(scheduledCallback)
    }

    private struct Counting<Inner: NIOScheduledCallbackHandler & Sendable>: NIOScheduledCallbackHandler, Sendable {
        let inner: Inner
        let state: LockedBox<Counts>

        func handleScheduledCallback(eventLoop: some EventLoop) {
            state.withLock { $0.fired += 1 }
            inner.handleScheduledCallback(eventLoop: eventLoop)
        }

        func didCancelScheduledCallback(eventLoop: some EventLoop) {
            state.withLock { $0.cancelled += 1 }
            inner.didCancelScheduledCallback(eventLoop: eventLoop)
        }
    }
}
