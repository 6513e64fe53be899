import Logging
import NIOCore
import Shared
import Synchronization

/// Each user's `GET /oauth/connections` answer, kept in memory by every replica and checked on
/// every request against a validator in Redis that each change to the user's connections
/// replaces. The validator is read beside the route's rate-limit check — both commands leave
/// in one write on the request's own Redis connection, so still about one round trip — and a
/// cached answer costs no query; an answer is never stale once the change that made it stale
/// has returned (the change replaces the validator after its commit, before it answers).
///
/// Without Redis nothing is served from the cache. If a change cannot reach Redis to replace
/// the validator, the entries it made stale are dropped here and age out elsewhere within
/// `maxAge` — which also bounds how long an edit made behind the service's back goes unseen.
/// A `maxAge` of zero turns the cache off.
final class ConnectionListCache: Sendable {
    struct Entry {
        let validator: String
        let body: ByteBuffer
        let storedAt: ContinuousClock.Instant
    }

    private let redis: RedisClient
    private let limiter: RateLimiter
    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    /// Validators only need to differ from every earlier one: this process's random prefix and
    /// a counter (no random bytes per request).
    private let prefix = RandomToken.string(length: 16)
    private let counter = Atomic<UInt64>(0)
    let maxAge: Duration
    let capacity: Int
    /// How long an unused validator stays in Redis.
    static let validatorMilliseconds: Int64 = 24 * 3600 * 1000

    init(
        redis: RedisClient, limiter: RateLimiter, logger: Logger, maxAge: Duration = .seconds(60),
        capacity: Int = 10_000
    ) {
        self.redis = redis
        self.limiter = limiter
        self.logger = logger
        self.maxAge = maxAge
        self.capacity = capacity
    }

    static func validatorKey(_ userId: String) -> String { "connection-list:\(userId)" }

    private func newValidator() -> String {
        "\(prefix)-\(counter.add(1, ordering: .relaxed).newValue)"
    }

    /// The user's rate-limit decision and the validator of their list, sent together.
    func check(_ rule: RateLimitRule, userId: String) async -> (decision: RateLimitDecision, validator: String?) {
        guard maxAge > .zero else { return (await limiter.check(rule, client: userId), nil) }
        // The validator's command goes out first; the limiter's leaves in the same write.
        let proposal = newValidator()
        let pending = try? redis.start([
            "SET", Self.validatorKey(userId), proposal, "NX", "GET", "PX", String(Self.validatorMilliseconds),
        ])
        let decision = await limiter.check(rule, client: userId)
        return (decision, await Self.validator(pending, proposal: proposal))
    }

    /// The user's validator, started from a fresh value when there is none (`SET … NX GET`:
    /// one atomic command); nil when Redis cannot be reached (then nothing is served from here).
    private static func validator(_ pending: PendingRedisReply?, proposal: String) async -> String? {
        do {
            guard let reply = try await pending?.value() else { return nil }
            return reply == .null ? proposal : reply.string
        } catch {
            return nil
        }
    }

    /// The cached answer if it was stored under `validator` and is young enough; otherwise
    /// `load`'s, stored for the next request. The validator is read before `load` runs, so a
    /// change committed meanwhile leaves the stored answer under a validator already replaced.
    func body(userId: String, validator: String?, load: () async throws -> ByteBuffer) async throws -> ByteBuffer {
        let now = ContinuousClock.now
        if let validator, let entry = entries.withLock({ $0[userId] }),
            entry.validator == validator, entry.storedAt.duration(to: now) < maxAge
        {
            return entry.body
        }
        let body = try await load()
        if let validator {
            entries.withLock { entries in
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                entries[userId] = Entry(validator: validator, body: body, storedAt: now)
            }
        }
        return body
    }

    /// Called after a change to these users' connections has committed: replaces their
    /// validators, so no replica serves the old answer again.
    func invalidate(_ userIds: some Sequence<String>) async {
        for userId in Set(userIds) {
            _ = entries.withLock { $0.removeValue(forKey: userId) }
            do {
                try await redis.send([
                    "SET", Self.validatorKey(userId), newValidator(), "PX", String(Self.validatorMilliseconds),
                ])
            } catch {
                logger.warning(
                    "could not mark a user's cached connection list stale; other replicas may show the old list for up to a minute",
                    metadata: ["user": "\(userId)", "error": "\(error)"])
            }
        }
    }
}
