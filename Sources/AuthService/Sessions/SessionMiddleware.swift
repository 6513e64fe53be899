import Hummingbird
import Shared

/// Finds the caller's session from the signed cookie (or `Authorization: Bearer`) and puts it,
/// with its user, on the request context. `required`: no valid session is 401 `UNAUTHORIZED`
/// before the handler runs; otherwise the handler decides (`get-session` answers `null`).
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AuthRequestContext

    let sessions: SessionRepository
    let cookie: SessionCookie
    let required: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        // The cookie codec reads the token; the repository (with its cache) finds the session.
        if let token = cookie.token(from: request), let (session, user) = try await sessions.find(token: token) {
            context.session = session
            context.user = user
        } else if required {
            throw AppError.unauthorized("UNAUTHORIZED", "Unauthorized")
        }
        return try await next(request, context)
    }
}

/// The session policies routes declare, built once.
struct SessionPolicies: Sendable {
    /// A valid session, or 401.
    let required: SessionMiddleware
    /// The session when there is one.
    let optional: SessionMiddleware

    init(sessions: SessionRepository, cookie: SessionCookie) {
        self.required = SessionMiddleware(sessions: sessions, cookie: cookie, required: true)
        self.optional = SessionMiddleware(sessions: sessions, cookie: cookie, required: false)
    }
}
