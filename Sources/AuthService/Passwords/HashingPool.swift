import HTTPTypes
import NIOCore
import NIOPosix
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The threads that hash passwords, and the admission rule in front of them.
///
/// **Yields, never starves.** Each thread runs under `SCHED_BATCH` at nice 5: against a thread
/// at the default nice 0 it gets about a quarter of a contended core (weights 335 and 1024),
/// and a waking hash does not preempt the thread running on its core — yet hashing always
/// progresses, unlike under `SCHED_IDLE`, which got nothing while another process kept both
/// cores busy, so sign-ins hung without bound (measurements in docs/performance.md).
///
/// **Bounded.** One thread per core; at most `maxWaiting` hashes wait for them. One more is
/// refused at once with 503 `TOO_BUSY` and a `Retry-After` estimated from the queue, and a hash
/// that waited past `maxWait` is dropped the same way when a thread reaches it (its caller has
/// likely given up), so overload sheds work instead of growing latency for everyone.
///
/// **Memory back when quiet.** scrypt's 32 MiB per hash stays in the malloc heap while hashes
/// keep coming (`AllocatorTuning`); once none has run for `idleTrim`, the pool hands the free
/// pages back, so a service that saw a burst of sign-ins does not hold 32 MiB per core for good.
final class HashingPool: Sendable {
    struct Limits: Sendable {
        var maxWaiting = 64
        var maxWait: Duration = .seconds(10)
        /// How long hashing stays quiet before its freed buffers are handed back.
        var idleTrim: Duration = .seconds(5)
    }

    /// The process's hashing threads: one per core, started on first use.
    static let sharedThreads: NIOThreadPool = {
        AllocatorTuning.keepLargeAllocationsInTheHeap()
        let pool = NIOThreadPool(numberOfThreads: System.coreCount)
        pool.start()
        return pool
    }()

    static let niceness: Int32 = 5

    let threads: NIOThreadPool
    let threadCount: Int
    let limits: Limits
    /// Hashes admitted and not finished (waiting or running).
    private let inFlight = Atomic<Int>(0)
    /// A moving average of one job's duration, in microseconds, for `Retry-After`.
    private let meanMicroseconds = Atomic<Int>(100_000)

    /// Counts the times hashing went quiet; a trim goes ahead only if no later one superseded it.
    private let quietPeriods = Atomic<Int>(0)
    /// Run once hashing has been quiet for `idleTrim`; nil hands free memory back.
    private let whenQuiet: (@Sendable () async -> Void)?

    init(
        limits: Limits = Limits(), threads: NIOThreadPool = HashingPool.sharedThreads,
        threadCount: Int = System.coreCount,
        whenQuiet: (@Sendable () async -> Void)? = nil
    ) {
        self.limits = limits
        self.threads = threads
        self.threadCount = max(1, threadCount)
        self.whenQuiet = whenQuiet
    }

    /// Jobs admitted and not yet on a thread.
    var waiting: Int { max(0, inFlight.load(ordering: .relaxed) - threadCount) }

    /// Runs `body` on a hashing thread, or throws 503 `TOO_BUSY` when the queue is full or the
    /// job waited too long.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let admitted = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        defer {
            if inFlight.wrappingSubtract(1, ordering: .relaxed).newValue == 0 { trimWhenStillQuiet() }
        }
        guard admitted <= limits.maxWaiting + threadCount else { throw tooBusy(waiting: admitted - threadCount) }
        let enqueued = ContinuousClock.now
        return try await threads.runIfActive {
            let started = ContinuousClock.now
            guard started - enqueued <= self.limits.maxWait else {
                throw self.tooBusy(waiting: self.inFlight.load(ordering: .relaxed) - self.threadCount)
            }
            Self.prepareCurrentThread()
            defer { self.record(ContinuousClock.now - started) }
            return try body()
        }
    }

    /// Hashing just went quiet: after `idleTrim`, unless a hash ran meanwhile, hand the free
    /// buffers back.
    private func trimWhenStillQuiet() {
        let period = quietPeriods.wrappingAdd(1, ordering: .relaxed).newValue
        Task {
            try? await Task.sleep(for: limits.idleTrim)
            guard quietPeriods.load(ordering: .relaxed) == period, inFlight.load(ordering: .relaxed) == 0 else {
                return
            }
            if let whenQuiet { await whenQuiet() } else { await returnFreeMemory() }
        }
    }

    /// Each hashing thread trims its own malloc arena, where its scrypt buffers were freed
    /// (`AllocatorTuning`). The threads meet first, so each takes one job; if a hash holds a
    /// thread meanwhile, the others go on after a moment and that arena waits for next time.
    private func returnFreeMemory() async {
        let arrived = LockedBox(0)
        let threadCount = threadCount
        await AllocatorTuning.whileTrimming {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<threadCount {
                    group.addTask { [threads] in
                        _ = try? await threads.runIfActive {
                            arrived.withLock { $0 += 1 }
                            let deadline = ContinuousClock.now + .milliseconds(200)
                            while arrived.withLock({ $0 }) < threadCount, ContinuousClock.now < deadline {
                                usleep(1_000)
                            }
                            AllocatorTuning.returnFreeMemoryOfThisThread()
                        }
                    }
                }
            }
        }
    }

    /// 503 with how long the jobs ahead should take on these threads.
    private func tooBusy(waiting: Int) -> AppError {
        let seconds = (max(1, waiting) * meanMicroseconds.load(ordering: .relaxed)) / (threadCount * 1_000_000)
        let retryAfter = min(60, max(1, seconds + 1))
        return AppError(
            .serviceUnavailable, code: "TOO_BUSY",
            message: "Too many password checks are waiting; try again in \(retryAfter) seconds.",
            headers: [.retryAfter: String(retryAfter)])
    }

    private func record(_ duration: Duration) {
        let micros =
            Int(duration.components.seconds) * 1_000_000 + Int(duration.components.attoseconds / 1_000_000_000_000)
        let mean = meanMicroseconds.load(ordering: .relaxed)
        // Races between threads lose an update at worst; this is an estimate.
        meanMicroseconds.store(mean + (micros - mean) / 8, ordering: .relaxed)
    }

    /// `SCHED_BATCH` at `niceness`, once per thread. On Linux nice is per thread, and
    /// `setpriority(PRIO_PROCESS, 0, …)` names the calling one. Raising one's own nice value
    /// needs no privilege.
    private static func prepareCurrentThread() {
        guard ThreadScheduling.currentThreadPolicy() != ThreadScheduling.batchPolicy else { return }
        ThreadScheduling.setCurrentThreadPolicy(ThreadScheduling.batchPolicy)
        ThreadScheduling.setCurrentThreadNiceness(niceness)
    }
}
