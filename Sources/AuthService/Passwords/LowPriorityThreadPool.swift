import CMalloc
import NIOCore
import NIOPosix
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// A blocking-work pool whose threads run under Linux's `SCHED_IDLE` policy, for work that may
/// wait but must not starve request handling: password hashing.
///
/// Measured with `make bench` (32 clients signing in while 8 poll `get-session`): at normal
/// priority, or at nice 10/19, scrypt's threads still delay the event loops by tens of
/// milliseconds at p99; under `SCHED_IDLE` any other runnable thread preempts them at once and
/// p99 stays under 10 ms. Hashing still gets every cycle the rest of the process leaves idle
/// (and a small share even when none are), so sign-ins slow down under overload instead of
/// everything else.
///
/// A thread at idle priority must not take the kernel's address-space lock for writing: if it
/// is preempted while holding it, every other thread that maps memory waits behind it (we saw
/// 70 ms stalls). scrypt allocates 32 MiB per hash, which glibc would `mmap` and `munmap` each
/// time, so the pool raises glibc's mmap threshold once: such buffers come from, and return to,
/// the malloc heap, and are reused by the next hash (which also makes hashing faster).
struct LowPriorityThreadPool: Sendable {
    /// One thread per core; started on first use, lives as long as the process.
    static let shared = LowPriorityThreadPool(pool: {
        keepLargeAllocationsInTheHeap()
        let pool = NIOThreadPool(numberOfThreads: System.coreCount)
        pool.start()
        return pool
    }())

    let pool: NIOThreadPool

    /// Runs `body` on one of the pool's threads, moving that thread to `SCHED_IDLE` first.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive {
            Self.lowerCurrentThreadPriority()
            return try body()
        }
    }

    /// Buffers up to 64 MiB from the heap, and up to 128 MiB of free heap kept, not trimmed.
    private static func keepLargeAllocationsInTheHeap() {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 64 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 128 << 20)
        #endif
    }

    /// Per thread; a no-op once done.
    private static func lowerCurrentThreadPriority() {
        guard ThreadScheduling.currentThreadPolicy() != ThreadScheduling.idlePolicy else { return }
        ThreadScheduling.setCurrentThreadPolicy(ThreadScheduling.idlePolicy)
    }
}
