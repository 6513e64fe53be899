import Logging
import Metrics
import Synchronization

/// Fixed-window rate limiting shared by every replica through Redis: one `EVALSHA` round trip
/// per check increments the window's counter and reads its remaining time atomically. When
/// Redis cannot be reached the check falls back to a per-process in-memory window — logged once
/// per outage and counted — so requests are never refused because Redis is down.
public final class RateLimiter: Sendable {
    /// INCR the window's counter, start its expiry on the first hit (or if it somehow has none),
    /// and return {count, milliseconds left}.
    static let script = RedisScript(
        """
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if count == 1 or ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        """)

    private let redis: RedisClient
    private let keyPrefix: String
    private let fallback: InMemoryRateLimiter
    private let logger: Logger
    private let usingFallback = Atomic<Bool>(false)
    private let fallbackCounter = Counter(label: "rate_limit_redis_fallback_total")

    /// `now`: the clock, injected as every long-lived type here takes it (per-call functions
    /// take a `now:` argument instead).
    public init(
        redis: RedisClient, keyPrefix: String = "rl", logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.redis = redis
        self.keyPrefix = keyPrefix
        self.fallback = InMemoryRateLimiter(now: now)
        self.logger = logger
    }

    /// Counts one request by `client` against `rule`.
    public func check(_ rule: RateLimitRule, client: String) async -> RateLimitDecision {
        let key = "\(keyPrefix):\(rule.name):\(client)"
        do {
            let reply = try await Self.script.run(on: redis, keys: [key], arguments: [String(rule.windowMilliseconds)])
            guard let values = reply.array, values.count == 2,
                let count = values[0].integer, let ttl = values[1].integer
            else {
                throw RedisError.protocolError("unexpected rate-limit script reply")
            }
            if usingFallback.exchange(false, ordering: .relaxed) {
                logger.notice("rate limiting is back on Redis")
            }
            return Self.decision(rule: rule, count: count, resetMilliseconds: ttl)
        } catch {
            fallbackCounter.increment()
            if !usingFallback.exchange(true, ordering: .relaxed) {
                logger.error(
                    "Redis unreachable for rate limiting; using the in-process fallback",
                    metadata: ["error": "\(error)"])
            }
            return fallback.check(rule, key: key)
        }
    }

    static func decision(rule: RateLimitRule, count: Int64, resetMilliseconds: Int64) -> RateLimitDecision {
        RateLimitDecision(
            allowed: count <= rule.limit, limit: rule.limit,
            remaining: max(0, rule.limit - Int(clamping: count)), resetMilliseconds: max(0, resetMilliseconds))
    }
}

/// The per-process fallback: the same fixed windows, in memory.
final class InMemoryRateLimiter: Sendable {
    private struct Window {
        var count: Int64
        var resetsAt: ContinuousClock.Instant
    }

    /// Bounded: a flood of distinct keys pushes out the oldest windows instead of growing the
    /// map or making each check scan it.
    private let windows: Mutex<ExpiringMap<String, Window, ContinuousClock.Instant>>
    private let now: @Sendable () -> ContinuousClock.Instant

    init(capacity: Int = 50_000, now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.windows = Mutex(ExpiringMap(capacity: capacity))
        self.now = now
    }

    func check(_ rule: RateLimitRule, key: String) -> RateLimitDecision {
        let now = now()
        let (count, resetsAt) = windows.withLock { windows in
            var window = windows.value(for: key, now: now) ?? Window(count: 0, resetsAt: now + rule.window)
            window.count += 1
            windows.set(key, window, expiresAt: window.resetsAt, now: now)
            return (window.count, window.resetsAt)
        }
        return RateLimiter.decision(
            rule: rule, count: count, resetMilliseconds: now.duration(to: resetsAt).wholeMilliseconds)
    }
}
