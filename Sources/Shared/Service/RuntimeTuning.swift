import CMalloc
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// The runtime tuning the services apply, in one place: thread scheduling policies and glibc's
// allocator thresholds. Why each pays off, and the measurements, are in docs/performance.md.

/// Linux scheduling policies for a service's threads: `SCHED_BATCH` for the auth service's event
/// loops, and `SCHED_BATCH` at a raised nice value for password hashing (`HashingPool`).
///
/// Under `SCHED_BATCH` a thread that wakes does not preempt the thread running on its core; it
/// runs at once on an idle core, else at the running thread's next tick. While RSA signing keeps
/// both cores busy, a loop's wake-ups then stop interrupting signatures, and the loop handles
/// whatever arrived in one go at its turn.
public enum ThreadScheduling {
    /// `SCHED_BATCH` (glibc declares it only under `_GNU_SOURCE`).
    public static let batchPolicy: Int32 = 3

    /// Moves NIO's shared event loops (Hummingbird's, the HTTP and PostgreSQL clients') to
    /// `SCHED_BATCH`, after starting NIO's shared blocking pool: a thread inherits its creator's
    /// policy (`SCHED_RESET_ON_FORK` resets only real-time ones), and the threads that sign must
    /// keep the default. Returns how many loops moved; none off Linux.
    public static func useBatchPolicyForSharedEventLoops() async throws -> Int {
        _ = NIOThreadPool.singleton
        return try await useBatchPolicy(on: MultiThreadedEventLoopGroup.singleton)
    }

    /// Moves every event loop of `group` to `SCHED_BATCH`; a no-op off Linux. Returns how many
    /// loops it moved (a loop the kernel refuses keeps its policy).
    static func useBatchPolicy(on group: any EventLoopGroup) async throws -> Int {
        var moved = 0
        for loop in group.makeIterator() {
            if try await loop.submit({ setCurrentThreadPolicy(batchPolicy) }).get() { moved += 1 }
        }
        return moved
    }

    /// The calling thread's scheduling policy (`SCHED_OTHER` is 0).
    public static func currentThreadPolicy() -> Int32 {
        #if os(Linux)
            return sched_getscheduler(0)
        #else
            return 0
        #endif
    }

    /// The calling thread's nice value (Linux keeps one per thread).
    public static func currentThreadNiceness() -> Int32 {
        #if os(Linux)
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
            return 0
        #endif
    }

    /// Sets the calling thread's nice value; false when the kernel refuses, and off Linux.
    @discardableResult
    public static func setCurrentThreadNiceness(_ niceness: Int32) -> Bool {
        #if os(Linux)
            return setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) == 0
        #else
            return false
        #endif
    }

    /// Moves the calling thread (pid 0 is the calling thread on Linux) to `policy`; false when
    /// the kernel refuses, and off Linux.
    @discardableResult
    public static func setCurrentThreadPolicy(_ policy: Int32) -> Bool {
        #if os(Linux)
            var parameters = sched_param()
            return sched_setscheduler(0, policy, &parameters) == 0
        #else
            return false
        #endif
    }
}

/// glibc's allocator thresholds.
public enum AllocatorTuning {
    /// Buffers up to 64 MiB come from the heap, and up to 128 MiB of free heap is kept: scrypt's
    /// 32 MiB per hash is then reused by the next hash instead of being mapped and unmapped each
    /// time (which takes the address-space lock every other thread needs). Once per process.
    public static func keepLargeAllocationsInTheHeap() {
        #if os(Linux)
            _ = mallopt(M_MMAP_THRESHOLD, 64 << 20)
        #endif
        setTrimThreshold(keptFreeHeap)
    }

    private static let trimProbe = Atomic<Int>(0)

    /// Kept free heap above this stays with the process (`keepLargeAllocationsInTheHeap`).
    static let keptFreeHeap: Int32 = 128 << 20

    /// Hands free heap back to the system, on the calling thread's malloc arena and the main
    /// one. Every thread whose arena should shrink must call it while `whileTrimming` lowered
    /// the threshold: glibc's `malloc_trim` releases free chunks inside every arena and the top
    /// of the main arena, but the free top of a thread's own arena (where a freed scrypt buffer
    /// ends up) shrinks only when a large chunk is freed into that arena while the top exceeds
    /// `M_TRIM_THRESHOLD`. Blocking: call it off the event loops.
    public static func returnFreeMemoryOfThisThread() {
        #if os(Linux)
            // 256 KiB: above glibc's 64 KiB consolidation threshold, below the mmap threshold,
            // so it comes from this thread's arena and its free makes glibc consider a trim.
            // The address is published so the compiler cannot drop the pair as unused.
            let probe = malloc(256 << 10)
            trimProbe.store(Int(bitPattern: probe), ordering: .relaxed)
            free(probe)
            _ = malloc_trim(0)
        #endif
    }

    /// Runs `body` (which calls `returnFreeMemoryOfThisThread` on each thread to trim) with
    /// the kept free heap lowered to 1 MiB, then restores it. Only one trim at a time.
    public static func whileTrimming<T>(_ body: () async throws -> T) async rethrows -> T {
        setTrimThreshold(1 << 20)
        defer { setTrimThreshold(keptFreeHeap) }
        return try await body()
    }

    private static func setTrimThreshold(_ bytes: Int32) {
        #if os(Linux)
            _ = mallopt(M_TRIM_THRESHOLD, bytes)
        #endif
    }
}

/// The pages of code and read-only data a service used only while starting.
///
/// Start-up (configuration, migrations check, clients, key loading) runs code spread over most
/// of the binary and the libraries, and the kernel maps 64 KiB around every page fault: after
/// start-up most of the code is resident, though requests use a fraction of it. Once the server
/// runs, `releaseStartupPages` unmaps every read-only private file mapping whose pages are all
/// still the file's (`MADV_DONTNEED`); the pages a request uses come back on first use (a minor
/// fault from the page cache), the rest leave this process's resident set. Nothing is freed from
/// the page cache here: the kernel reclaims those pages when memory is needed, without first
/// unmapping them.
///
/// A mapping holding private copies (`Anonymous` or `Swap` in smaps: relocated read-only data, a
/// page a debugger patched) is left alone: unmapping it would bring back the file's unrelocated
/// bytes.
public enum StartupPages {
    /// Unmaps the releasable mappings of this process; returns how many resident bytes they held
    /// (0 off Linux, or when `/proc/self/smaps` cannot be read).
    @discardableResult
    public static func releaseStartupPages() -> Int {
        #if os(Linux)
            guard let smaps = readProcFile("/proc/self/smaps") else { return 0 }
            var released = 0
            for mapping in releasable(smaps: smaps) {
                let pointer = UnsafeMutableRawPointer(bitPattern: mapping.range.lowerBound)
                if madvise(pointer, mapping.range.count, MADV_DONTNEED) == 0 { released += mapping.residentBytes }
            }
            return released
        #else
            return 0
        #endif
    }

    /// One mapping `releaseStartupPages` may unmap.
    struct Mapping: Equatable {
        var range: Range<UInt>
        var residentBytes: Int
    }

    /// One mapping as `/proc/<pid>/smaps` describes it.
    struct SmapsEntry {
        var range: Range<UInt>
        var permissions: Substring
        var path: Substring
        var residentBytes = 0
        /// Private copies, resident; nil when the entry has no `Anonymous` line.
        var anonymousBytes: Int?
        /// Private copies, swapped out.
        var swappedBytes = 0
        var flags: [Substring] = []

        /// A private mapping of a file, not writable, with resident pages and no private copies;
        /// not device memory (`io`, `pf`) nor huge pages (`ht`), which are left to their owners.
        var isReleasable: Bool {
            let permissions = Array(permissions.utf8)
            return permissions.count == 4 && permissions[1] != UInt8(ascii: "w")
                && permissions[3] == UInt8(ascii: "p") && path.hasPrefix("/") && residentBytes > 0
                && anonymousBytes == 0 && swappedBytes == 0
                && !flags.contains { $0 == "io" || $0 == "pf" || $0 == "ht" }
        }
    }

    /// The mappings `releaseStartupPages` may unmap, from the text of `/proc/<pid>/smaps`.
    static func releasable(smaps: String) -> [Mapping] {
        entries(smaps: smaps).filter(\.isReleasable).map { Mapping(range: $0.range, residentBytes: $0.residentBytes) }
    }

    /// Every mapping in the text of `/proc/<pid>/smaps`, in order.
    static func entries(smaps: String) -> [SmapsEntry] {
        var entries = [SmapsEntry]()
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            // "start-end perms offset dev inode [path]"; a field line's first field ends in ":".
            if !first.hasSuffix(":") {
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let start = UInt(bounds[0], radix: 16),
                    let end = UInt(bounds[1], radix: 16), start < end, fields.count >= 5
                else { continue }
                entries.append(
                    SmapsEntry(range: start..<end, permissions: fields[1], path: fields.count >= 6 ? fields[5] : ""))
                continue
            }
            guard !entries.isEmpty else { continue }
            if first == "VmFlags:" {
                entries[entries.count - 1].flags = Array(fields.dropFirst())
                continue
            }
            // "Rss:  1234 kB"
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { continue }
            switch first {
            case "Rss:": entries[entries.count - 1].residentBytes = kilobytes * 1024
            case "Anonymous:": entries[entries.count - 1].anonymousBytes = kilobytes * 1024
            case "Swap:": entries[entries.count - 1].swappedBytes = kilobytes * 1024
            default: break
            }
        }
        return entries
    }

    #if os(Linux)
        /// A `/proc` file's text (its size is not known ahead: read until the end).
        static func readProcFile(_ path: String) -> String? {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            defer { close(descriptor) }
            var bytes = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 { return nil }
                if count == 0 { break }
                bytes.append(contentsOf: chunk[0..<count])
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    #endif
}
