/// Capped exponential backoff, the one rule for every retry: attempt n (from 1) has the ceiling
/// `base·2^(n−1)`, at most `cap`, and waits that ceiling less a random part of up to `jitter`
/// of it. `jitter` 0.5 is "equal jitter" (uniform in [ceiling/2, ceiling]: spread out, never
/// near zero); 0.25 is what Anthropic's SDKs do.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    public var jitter: Double

    public init(base: Duration, cap: Duration, jitter: Double = 0.5) {
        self.base = base
        self.cap = cap
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The longest wait for `attempt`.
    public func ceiling(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let milliseconds = min(base.wholeMilliseconds << exponent, cap.wholeMilliseconds)
        return .milliseconds(max(milliseconds, 1))
    }

    /// The wait before `attempt`.
    public func delay(attempt: Int) -> Duration {
        let ceiling = Double(ceiling(attempt: attempt).wholeMilliseconds)
        return .milliseconds(Int64((ceiling * (1 - jitter * Double.random(in: 0...1))).rounded()))
    }
}
