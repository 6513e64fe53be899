import Hummingbird
import Shared

/// The protections auth routes declare, built once in `App+build`: each feature adds, where it
/// mounts its routes under `/api/auth` (which already caps bodies at 64 KiB and checks the
/// origin of cookie-bearing writes), the limits and session policy those routes need.
struct AuthRoutePolicies: Sendable {
    typealias Context = AuthRequestContext

    struct Limit: Sendable {
        /// Sign-in, sign-up and starting a social sign-in: 10 per minute per IP.
        let signIn: RateLimitMiddleware<Context>
        /// `change-password`: as sign-in, counted on its own.
        let changePassword: RateLimitMiddleware<Context>
        /// Every other auth route: 100 per 10 s per IP.
        let api: RateLimitMiddleware<Context>
    }

    let limit: Limit
    let session: SessionPolicies

    init(config: AuthConfig, limiter: RateLimiter, sessions: SessionRepository, cookie: SessionCookie) {
        self.limit = Limit(
            signIn: RateLimitMiddleware(limiter, rule: config.signInLimit),
            changePassword: RateLimitMiddleware(limiter, rule: config.changePasswordLimit),
            api: RateLimitMiddleware(limiter, rule: config.apiLimit))
        self.session = SessionPolicies(sessions: sessions, cookie: cookie)
    }
}
