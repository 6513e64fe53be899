import Crypto
import Logging
import Shared

/// Brute-force protection on top of the per-IP limits: after `threshold` failed sign-ins for
/// one email from one IP within `window`, that pair is refused for `window` (counted from the
/// last failure). A success clears the count. Counts live in Redis, shared by all replicas;
/// while Redis is unreachable the check lets requests through (the in-memory per-IP limit
/// still applies) rather than locking everyone out.
struct SignInLockout: Sendable {
    var threshold = 10
    var window: Duration = .seconds(15 * 60)
    let redis: RedisClient
    let logger: Logger

    /// {count, milliseconds left}
    static let readScript = "return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}"
    /// INCR; the window restarts at the first failure and again once the threshold is reached.
    static let failScript = """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 or count >= tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return count
        """

    private func key(email: String, ip: String) -> String {
        // The email is hashed so Redis holds no addresses.
        "signin-fail:" + Hex.encode(SHA256.hash(data: Array(email.utf8)).prefix(16)) + ":" + ip
    }

    /// Seconds until the pair may try again, or nil when it is not locked.
    func lockedFor(email: String, ip: String) async -> Int64? {
        do {
            let reply = try await redis.send(["EVAL", Self.readScript, "1", key(email: email, ip: ip)])
            guard let values = reply.array, values.count == 2, let count = values[0].integer, let ttl = values[1].integer else { return nil }
            return count >= threshold && ttl > 0 ? max(1, (ttl + 999) / 1000) : nil
        } catch {
            logger.warning("sign-in lockout check skipped: Redis unreachable", metadata: ["error": "\(error)"])
            return nil
        }
    }

    func recordFailure(email: String, ip: String) async {
        _ = try? await redis.send(["EVAL", Self.failScript, "1", key(email: email, ip: ip), String(window.wholeMilliseconds), String(threshold)])
    }

    func reset(email: String, ip: String) async {
        _ = try? await redis.send(["DEL", key(email: email, ip: ip)])
    }
}
