import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// Routes for a signed-in user's sessions and password: `list-sessions`, `revoke-session`,
/// `revoke-sessions`, `revoke-other-sessions`, `change-password`. All sit behind the required
/// session middleware (401 without a valid session).
struct AccountRoutes: Sendable {
    let users: UserRepository
    let sessions: SessionRepository
    let hasher: PasswordHasher
    let cookie: SessionCookie
    /// Wrong current passwords per user: a stolen session must not become a password oracle.
    let lockout: FailureLockout

    struct RevokeBody: Decodable { let token: String }
    struct ChangePasswordBody: Decodable {
        let newPassword: String
        let currentPassword: String
        let revokeOtherSessions: Bool?
    }
    struct Status: Encodable { let status: Bool }
    struct ChangePasswordResult: Encodable {
        let token: String?
        let user: User

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(token, forKey: .token)
            try container.encode(user, forKey: .user)
        }
        enum CodingKeys: String, CodingKey { case token, user }
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group().add(middleware: policies.limit.api).add(middleware: policies.session.required)
        /// The caller's active sessions.
        group.get("/list-sessions") { _, context in
            let (session, _) = try context.requireSession()
            return try Response.json(try await sessions.list(userId: session.userId))
        }
        /// Ends one of the caller's sessions, named by its token. The answer is the same whether the
        /// token named one of theirs, someone else's or none (Better Auth's), so it confirms nothing.
        group.post("/revoke-session") { request, context in
            let (session, _) = try context.requireSession()
            let body = try await JSONBody.decode(RevokeBody.self, from: request, context: context)
            _ = try await sessions.delete(token: body.token, ofUser: session.userId)
            return try Response.json(Status(status: true))
        }
        /// Ends every session of the caller, this one included (Better Auth's `revokeSessions`),
        /// and expires this browser's cookies.
        group.post("/revoke-sessions") { _, context in
            let (session, _) = try context.requireSession()
            try await sessions.deleteAll(userId: session.userId)
            return try Response.json(Status(status: true), headers: cookie.clearingHeaders())
        }
        /// Ends every session of the caller but the current one.
        group.post("/revoke-other-sessions") { _, context in
            let (session, _) = try context.requireSession()
            try await sessions.deleteOthers(userId: session.userId, keeping: session.token)
            return try Response.json(Status(status: true))
        }
        addChangePassword(to: api, policies: policies)
    }

    /// `POST /change-password`: changes the caller's password after checking the current one;
    /// optionally ends every other session and starts a fresh one. 10 wrong current passwords
    /// for one user within the lockout window lock it for that user, whatever the IP (429).
    private func addChangePassword(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        // A password check, limited like sign-in; the session is looked up after the limit.
        let group = api.group().add(middleware: policies.limit.changePassword).add(
            middleware: policies.session.required)
        group.post("/change-password") { request, context in
            let (_, user) = try context.requireSession()
            let body = try await JSONBody.decode(ChangePasswordBody.self, from: request, context: context)
            try PasswordPolicy.check(body.newPassword)
            let subject = FailureLockout.changePassword(userId: user.id)
            if let refusal = await lockout.refusal(subject) {
                try RateLimitMiddleware<AuthRequestContext>.enforce(
                    refusal, message: "Too many wrong passwords; try again in \(refusal.resetSeconds) seconds.")
            }
            // An account that signs in only with GitHub has no password to change (Better Auth's
            // answer), and asking is not a wrong guess toward the lockout.
            guard let stored = try await users.passwordHash(userId: user.id) else {
                throw AppError.badRequest("CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found")
            }
            guard try await hasher.verify(body.currentPassword, against: stored) else {
                await lockout.recordFailure(subject)
                throw AppError.badRequest("INVALID_PASSWORD", "Invalid password")
            }
            await lockout.reset(subject)
            try await users.updatePasswordHash(userId: user.id, hash: try await hasher.hash(body.newPassword))
            guard body.revokeOtherSessions == true else {
                return try Response.json(ChangePasswordResult(token: nil, user: user))
            }
            // Every session ends, including this one; the caller continues in a new one.
            let remember = !cookie.isDontRemember(request)
            let fresh = try await sessions.create(
                userId: user.id, lifetime: cookie.policy.lifetime(rememberMe: remember),
                ipAddress: context.clientIP, userAgent: request.headers[.userAgent])
            try await sessions.deleteOthers(userId: user.id, keeping: fresh.token)
            return try Response.json(
                ChangePasswordResult(token: fresh.token, user: user),
                headers: cookie.establishingHeaders(token: fresh.token, rememberMe: remember))
        }
    }
}
