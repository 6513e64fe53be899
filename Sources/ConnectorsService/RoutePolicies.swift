import Hummingbird
import Shared

/// The protections a route can declare, built once in `App+build` and handed to every feature:
/// each feature adds, where it mounts its routes, the ones those routes need — so what guards a
/// route is read beside it.
struct RoutePolicies: Sendable {
    typealias Context = ConnectorsRequestContext

    struct Auth: Sendable {
        /// A valid JWT, or 401 with `WWW-Authenticate`.
        let required: JWTAuthMiddleware<Context>
        /// The JWT's user when a valid one came; anonymous otherwise (an invalid one is 401).
        let optional: JWTAuthMiddleware<Context>
        let verifier: JWTVerifier

        /// `required`, with the 401's `WWW-Authenticate` naming the resource metadata (MCP).
        func required(resourceMetadata: String) -> JWTAuthMiddleware<Context> {
            JWTAuthMiddleware(verifier, resourceMetadata: resourceMetadata)
        }
    }

    struct Limit: Sendable {
        /// `USER_RATE_LIMIT` per signed-in user (per IP before sign-in).
        let perUser: RateLimitMiddleware<Context>
        /// 100 per 10 s per IP, for routes without a user.
        let perIP: RateLimitMiddleware<Context>
        /// `AGENT_RATE_LIMIT` runs per user.
        let agentRuns: RateLimitMiddleware<Context>
        /// The per-user rule itself, for a route that counts it inside its own round trip.
        let perUserRule: RateLimitRule
    }

    struct Body: Sendable {
        let json = BodyLimitMiddleware<Context>(BodyLimit.json)
        let webhook = BodyLimitMiddleware<Context>(BodyLimit.webhook)
        let agent = BodyLimitMiddleware<Context>(BodyLimit.agent)
    }

    let auth: Auth
    let limit: Limit
    let body = Body()

    init(config: ConnectorsConfig, verifier: JWTVerifier, limiter: RateLimiter) {
        self.auth = Auth(
            required: JWTAuthMiddleware(verifier), optional: JWTAuthMiddleware(verifier, optional: true),
            verifier: verifier)
        let byUser: @Sendable (Request, Context) -> String = { _, context in
            context.user?.id ?? RateLimitSource.key(for: context.clientIP)
        }
        self.limit = Limit(
            perUser: RateLimitMiddleware(limiter, rule: config.userLimit, key: byUser),
            perIP: RateLimitMiddleware(limiter, rule: config.ipLimit),
            agentRuns: RateLimitMiddleware(limiter, rule: config.agentLimit, key: byUser),
            perUserRule: config.userLimit)
    }
}
