import HTTPTypes
import Hummingbird

/// Applies a rule to a route group. The client is the IP by default (an IPv6 address by its
/// /64, `RateLimitSource`), or whatever `key` returns (a user id once authentication has run). Every response carries the
/// `RateLimit-Limit`/`-Remaining`/`-Reset` headers, error responses included; a refused
/// request gets 429 with `Retry-After` as well.
public struct RateLimitMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    let limiter: RateLimiter
    let rule: RateLimitRule
    let key: @Sendable (Request, Context) -> String

    public init(
        _ limiter: RateLimiter, rule: RateLimitRule,
        key: @escaping @Sendable (Request, Context) -> String = { _, context in
            RateLimitSource.key(for: context.clientIP)
        }
    ) {
        self.limiter = limiter
        self.rule = rule
        self.key = key
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let decision = await limiter.check(rule, client: key(request, context))
        try Self.enforce(decision)
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: Self.headers(decision))
            return response
        } catch var error as AppError {
            // A refusal further in (the sign-in lockout) reports its own rule's figures.
            if error.headers[.rateLimitLimit] == nil { error.headers.append(contentsOf: Self.headers(decision)) }
            throw error
        }
    }

    /// The 429 for a refused request (for a route that checks its limit itself).
    public static func enforce(_ decision: RateLimitDecision, message: String? = nil) throws {
        guard decision.allowed else {
            var headers = Self.headers(decision)
            headers[.retryAfter] = String(decision.resetSeconds)
            // Better Auth's client reads X-Retry-After.
            headers[.xRetryAfter] = String(decision.resetSeconds)
            throw AppError(
                .tooManyRequests, code: "TOO_MANY_REQUESTS",
                message: message ?? "Too many requests; try again in \(decision.resetSeconds) seconds.",
                headers: headers)
        }
    }

    /// The `RateLimit-*` headers every counted response carries.
    public static func headers(_ decision: RateLimitDecision) -> HTTPFields {
        [
            .rateLimitLimit: String(decision.limit),
            .rateLimitRemaining: String(decision.remaining),
            .rateLimitReset: String(decision.resetSeconds),
        ]
    }
}

extension HTTPField.Name {
    public static let rateLimitLimit = Self("RateLimit-Limit")!
    public static let rateLimitRemaining = Self("RateLimit-Remaining")!
    public static let rateLimitReset = Self("RateLimit-Reset")!
    public static let xRetryAfter = Self("X-Retry-After")!
}
