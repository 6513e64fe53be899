import Logging
import Synchronization

/// Brute-force protection on top of the per-IP limits: after `threshold` failures for one
/// subject within `window`, that subject is refused for `window` (counted from the last
/// failure). A success clears the count. The auth service counts sign-ins per email and IP and
/// `change-password` per user; the connectors service counts failed webhook signatures per
/// source IP. Counts live in Redis, shared by all replicas; while Redis is unreachable they are
/// kept in this process instead (as the per-IP limits are), so an outage never switches the
/// protection off.
public struct FailureLockout: Sendable {
    /// A key prefix in Redis, one per kind of attempt.
    let name: String
    let threshold: Int
    let window: Duration
    let redis: RedisClient
    let logger: Logger
    private let local = LocalFailureCounts()

    public init(
        name: String, threshold: Int = 10, window: Duration = .seconds(15 * 60), redis: RedisClient, logger: Logger
    ) {
        self.name = name
        self.threshold = threshold
        self.window = window
        self.redis = redis
        self.logger = logger
    }

    /// {count, milliseconds left}
    static let readScript = RedisScript(
        "return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}")
    /// INCR; the window restarts at the first failure and again once the threshold is reached.
    static let failScript = RedisScript(
        """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 or count >= tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return count
        """)

    private func key(_ subject: String) -> String { name + ":" + subject }

    /// The refusal (a 429's `RateLimit-*` figures) while the subject is locked; nil when it may try.
    public func refusal(_ subject: String) async -> RateLimitDecision? {
        let key = key(subject)
        let count: Int64
        let millisecondsLeft: Int64
        do {
            let reply = try await Self.readScript.run(on: redis, keys: [key])
            guard let values = reply.array, values.count == 2, let stored = values[0].integer,
                let ttl = values[1].integer
            else { return nil }
            (count, millisecondsLeft) = (stored, ttl)
            local.inUse.store(false, ordering: .relaxed)
        } catch {
            if !local.inUse.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "Redis unreachable: failed attempts are counted in this process",
                    metadata: ["lockout": "\(name)", "error": "\(error)"])
            }
            (count, millisecondsLeft) = local.read(key)
        }
        guard count >= Int64(threshold), millisecondsLeft > 0 else { return nil }
        return RateLimitDecision(allowed: false, limit: threshold, remaining: 0, resetMilliseconds: millisecondsLeft)
    }

    public func recordFailure(_ subject: String) async {
        let key = key(subject)
        do {
            let count = try await Self.failScript.run(
                on: redis, keys: [key], arguments: [String(window.wholeMilliseconds), String(threshold)]
            ).integer
            if let count, count >= Int64(threshold) { local.lock(key, for: window) }
        } catch {
            local.fail(key, window: window, threshold: threshold)
        }
    }

    /// The refusal while this process has seen the subject locked: no Redis round trip, for
    /// paths where one per request costs too much (webhook ingest). Every replica learns of a
    /// lock from the next failure it counts itself.
    public func refusalSeenHere(_ subject: String) -> RateLimitDecision? {
        let (count, millisecondsLeft) = local.read(key(subject))
        guard count >= Int64(threshold), millisecondsLeft > 0 else { return nil }
        return RateLimitDecision(allowed: false, limit: threshold, remaining: 0, resetMilliseconds: millisecondsLeft)
    }

    public func reset(_ subject: String) async {
        let key = key(subject)
        local.reset(key)
        _ = try? await redis.send(["DEL", key])
    }
}

/// The failure counts while Redis is unreachable: the same rule as the scripts, in memory.
private final class LocalFailureCounts: Sendable {
    private struct Count {
        var failures: Int64
        var expiresAt: ContinuousClock.Instant
    }

    /// Bounded: a flood of distinct keys pushes out the oldest counts (`ExpiringMap`).
    private let counts = Mutex(ExpiringMap<String, Count, ContinuousClock.Instant>(capacity: 100_000))
    /// Set while Redis is unreachable, so the outage is logged once rather than per sign-in.
    let inUse = Atomic<Bool>(false)

    func read(_ key: String, now: ContinuousClock.Instant = .now) -> (count: Int64, millisecondsLeft: Int64) {
        counts.withLock { counts in
            guard let count = counts.value(for: key, now: now) else { return (0, -2) }
            return (count.failures, (count.expiresAt - now).wholeMilliseconds)
        }
    }

    func fail(_ key: String, window: Duration, threshold: Int, now: ContinuousClock.Instant = .now) {
        counts.withLock { counts in
            var count = counts.value(for: key, now: now) ?? Count(failures: 0, expiresAt: now + window)
            count.failures += 1
            if count.failures >= Int64(threshold) { count.expiresAt = now + window }
            counts.set(key, count, expiresAt: count.expiresAt, now: now)
        }
    }

    /// Records a lock Redis reported, so `refusalSeenHere` sees it.
    func lock(_ key: String, for window: Duration, now: ContinuousClock.Instant = .now) {
        counts.withLock { counts in
            counts.set(key, Count(failures: .max, expiresAt: now + window), expiresAt: now + window, now: now)
        }
    }

    func reset(_ key: String) {
        counts.withLock { $0.remove(key) }
    }
}
