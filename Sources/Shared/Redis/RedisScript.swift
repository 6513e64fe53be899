/// A Lua script run in Redis by its SHA-1 (`EVALSHA`), falling back to `EVAL` — which also
/// caches it — the first time after Redis (re)started. One per script, made once.
public struct RedisScript: Sendable {
    public let source: String
    public let sha: String

    public init(_ source: String) {
        self.source = source
        self.sha = SHA1Hex.digest(source)
    }

    public func run(on redis: RedisClient, keys: [String], arguments: [String] = []) async throws -> RESPValue {
        do {
            return try await redis.send(["EVALSHA", sha, String(keys.count)] + keys + arguments)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            return try await redis.send(["EVAL", source, String(keys.count)] + keys + arguments)
        }
    }
}
