/// A lock shared by every replica: a key set only if absent, with an owner token and a lifetime
/// (so a crashed holder cannot keep it), released only by its owner.
public struct RedisLock: Sendable {
    public let redis: RedisClient
    public let key: String
    public let lifetime: Duration
    private let owner = RandomToken.string(length: 20)

    public init(redis: RedisClient, key: String, lifetime: Duration) {
        self.redis = redis
        self.key = key
        self.lifetime = lifetime
    }

    /// True when this call took the lock.
    public func acquire() async throws -> Bool {
        try await redis.send(["SET", key, owner, "NX", "PX", String(lifetime.wholeMilliseconds)]).string == "OK"
    }

    /// Deletes the lock only if it is still ours (it may have expired and been taken).
    public func release() async {
        _ = try? await Self.release.run(on: redis, keys: [key], arguments: [owner])
    }

    private static let release = RedisScript(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end")
}
