/// A limit for one class of routes: at most `limit` requests per client per `window`.
public struct RateLimitRule: Sendable, Hashable {
    /// The route class, part of the Redis key (`sign-in`, `api`, `agent-run`, …).
    public var name: String
    public var limit: Int
    public var window: Duration

    public init(name: String, limit: Int, window: Duration) {
        precondition(limit > 0, "a rate limit must allow at least one request")
        self.name = name
        self.limit = limit
        self.window = window
    }

    var windowMilliseconds: Int64 {
        max(1, window.wholeMilliseconds)
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
public struct RateLimitDecision: Sendable, Equatable {
    public var allowed: Bool
    public var limit: Int
    public var remaining: Int
    /// Milliseconds until the window resets.
    public var resetMilliseconds: Int64

    public init(allowed: Bool, limit: Int, remaining: Int, resetMilliseconds: Int64) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetMilliseconds = resetMilliseconds
    }

    /// Seconds until reset, rounded up (never 0 while a window is open).
    public var resetSeconds: Int64 { max(1, (resetMilliseconds + 999) / 1000) }
}
