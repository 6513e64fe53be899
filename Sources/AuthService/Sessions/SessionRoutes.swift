import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// `get-session` (and `/session`), `sign-out` and `ok`.
struct SessionRoutes: Sendable {
    let sessions: SessionRepository
    let cookie: SessionCookie
    let issuer: JWTIssuer

    struct SessionResult: Encodable {
        let session: Session
        let user: User
    }

    struct Success: Encodable { let success: Bool }
    struct OK: Encodable { let ok: Bool }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group().add(middleware: policies.limit.api)
        let withSession = group.group().add(middleware: policies.session.optional)
        /// The caller's session and user, or `null`; extends the session when it is due.
        withSession.get("/get-session") { request, context in try await getSession(request, context) }
        /// Alias of `/get-session`.
        withSession.get("/session") { request, context in try await getSession(request, context) }
        /// Ends the caller's session and expires the cookie.
        group.post("/sign-out") { request, _ in try await signOut(request) }
        /// Liveness of the auth API, as Better Auth answers it.
        group.get("/ok") { _, _ in try Response.json(OK(ok: true)) }
    }

    func getSession(_ request: Request, _ context: AuthRequestContext) async throws -> Response {
        guard let session = context.session, let user = context.user else {
            // A session cookie that no longer works is removed, as Better Auth does.
            let headers =
                request.headers[.cookie]?.contains(cookie.name) == true ? cookie.clearingHeaders() : HTTPFields()
            return Response.json(encoded: ByteBuffer(string: "null"), headers: headers)
        }
        var current = session
        var headers = HTTPFields()
        let now = Date()
        if !cookie.isDontRemember(request), cookie.policy.isDueForRefresh(session, now: now) {
            current = try await sessions.extend(session, to: now.addingTimeInterval(cookie.policy.expiresIn), now: now)
            headers = cookie.establishingHeaders(token: session.token, rememberMe: true)
        }
        headers[.setAuthJWT] = try await issuer.token(for: current, user: user, now: now)
        return try Response.json(SessionResult(session: current, user: user), headers: headers)
    }

    /// Deletes the session the request names, if any, and expires the cookies either way: a
    /// browser holding a cookie that no longer works (a changed secret, a session gone) is still
    /// signed out, as Better Auth does.
    func signOut(_ request: Request) async throws -> Response {
        if let token = cookie.token(from: request), let sessionID = try await sessions.delete(token: token) {
            issuer.forget(sessionID: sessionID)
        }
        return try Response.json(Success(success: true), headers: cookie.clearingHeaders())
    }
}
