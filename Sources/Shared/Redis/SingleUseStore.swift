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
