import Foundation

/// Values kept in Redis under a random key for a bounded time and handed out once: `consume`
/// is `GETDEL`, so a replayed OAuth callback or link finds nothing. Used for OAuth state.
public struct SingleUseStore<Value: Codable & Sendable>: Sendable {
    let redis: RedisClient
    let prefix: String
    public let lifetime: Int

    /// `prefix` namespaces the keys (`oauth-state:`); `lifetime` is in seconds.
    public init(redis: RedisClient, prefix: String, lifetime: Int = 600) {
        self.redis = redis
        self.prefix = prefix
        self.lifetime = lifetime
    }

    /// Stores `value` under `key` unless the key is taken (`NX`: keys are random, never reused).
    public func save(_ value: Value, key: String) async throws {
        let text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        try await redis.send(["SET", prefix + key, text, "EX", String(lifetime), "NX"])
    }

    /// Returns and deletes the value in one step; nil when absent, expired or already used.
    public func consume(_ key: String) async throws -> Value? {
        guard !key.isEmpty, key.count <= 256, let text = try await redis.send(["GETDEL", prefix + key]).string else {
            return nil
        }
        return try? JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }
}

/// Single use for values that carry themselves (a signed, self-contained OAuth state): Redis
/// holds only the mark that one was spent, until it would have expired anyway, so a value
/// costs Redis nothing until someone presents it with a valid signature.
public struct SpentMarks: Sendable {
    let redis: RedisClient
    let prefix: String

    public init(redis: RedisClient, prefix: String) {
        self.redis = redis
        self.prefix = prefix
    }

    /// True the first time `id` is spent; false when it was spent before. The mark outlives
    /// `expiry` by a second so a value is never accepted again at its last moment.
    public func spend(_ id: String, expiry: Date, now: Date = Date()) async throws -> Bool {
        let seconds = max(1, Int(expiry.timeIntervalSince(now).rounded(.up)) + 1)
        let reply = try await redis.send(["SET", prefix + id, "1", "EX", String(seconds), "NX"])
        return reply.string == "OK"
    }
}
