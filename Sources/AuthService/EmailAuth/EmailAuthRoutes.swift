import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// `POST /api/auth/sign-up/email` and `POST /api/auth/sign-in/email`.
struct EmailAuthRoutes: Sendable {
    let users: UserRepository
    let sessions: SessionRepository
    let hasher: PasswordHasher
    let cookie: SessionCookie
    let callbackPolicy: CallbackURLPolicy
    let lockout: FailureLockout
    let oauthFlow: OAuthFlow

    struct SignUpBody: Decodable {
        let name: String
        let email: String
        let password: String
        let image: String?
        let callbackURL: String?
        let rememberMe: Bool?
        /// An authorization in progress (the signed query the console was sent with).
        let oauth_query: String?
    }

    struct SignInBody: Decodable {
        let email: String
        let password: String
        let rememberMe: Bool?
        let callbackURL: String?
        let oauth_query: String?
    }

    struct SignUpResult: Encodable {
        let token: String
        let user: User
        /// Set when the sign-up continues an authorization.
        var redirect: Bool?
        var url: String?
    }

    struct SignInResult: Encodable {
        let redirect: Bool
        let token: String
        let url: String?
        let user: User
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group().add(middleware: policies.limit.signIn)
        /// Creates a user with an email and password and signs them in. Anyone may call it.
        group.post("/sign-up/email") { request, context in try await signUp(request, context) }
        /// Signs in with an email and password. Anyone may call it.
        group.post("/sign-in/email") { request, context in try await signIn(request, context) }
    }

    func signUp(_ request: Request, _ context: AuthRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(SignUpBody.self, from: request, context: context)
        let email = body.email.lowercased()
        try Self.validate(email: email)
        try PasswordPolicy.check(body.password)
        try callbackPolicy.check(body.callbackURL)
        let flow = try oauthFlow.parameters(body.oauth_query)
        if try await users.findByEmail(email) != nil { throw Self.userExists }
        let hash = try await hasher.hash(body.password)
        let user: User
        do {
            user = try await users.create(name: body.name, email: email, image: body.image, passwordHash: hash)
        } catch UserRepository.CreateError.emailTaken {
            throw Self.userExists
        }
        return try await startSession(
            for: user, rememberMe: body.rememberMe ?? true, request: request, context: context
        ) { session in
            guard let flow else { return SignUpResult(token: session.token, user: user) }
            return SignUpResult(
                token: session.token, user: user, redirect: true, url: try await oauthFlow.next(flow, session: session))
        }
    }

    func signIn(_ request: Request, _ context: AuthRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(SignInBody.self, from: request, context: context)
        let email = body.email.lowercased()
        try Self.validate(email: email)
        try callbackPolicy.check(body.callbackURL)
        let flow = try oauthFlow.parameters(body.oauth_query)
        let subject = FailureLockout.signIn(email: email, ip: RateLimitSource.key(for: context.clientIP))
        if let refusal = await lockout.refusal(subject) {
            try RateLimitMiddleware<AuthRequestContext>.enforce(
                refusal, message: "Too many failed sign-in attempts; try again in \(refusal.resetSeconds) seconds.")
        }
        guard let (user, stored) = try await users.findByEmail(email), let stored else {
            // The same scrypt work as a real check, so timing does not reveal unknown emails.
            try await hasher.verifyDummy(body.password)
            await lockout.recordFailure(subject)
            throw Self.invalidCredentials
        }
        guard try await hasher.verify(body.password, against: stored) else {
            await lockout.recordFailure(subject)
            throw Self.invalidCredentials
        }
        await lockout.reset(subject)
        return try await startSession(
            for: user, rememberMe: body.rememberMe ?? true, request: request, context: context
        ) { session in
            if let flow {
                return SignInResult(
                    redirect: true, token: session.token, url: try await oauthFlow.next(flow, session: session),
                    user: user)
            }
            return SignInResult(
                redirect: body.callbackURL != nil, token: session.token, url: body.callbackURL, user: user)
        }
    }

    private func startSession<Body: Encodable>(
        for user: User, rememberMe: Bool, request: Request, context: AuthRequestContext,
        body: (Session) async throws -> Body
    ) async throws -> Response {
        let session = try await sessions.create(
            userId: user.id, lifetime: cookie.policy.lifetime(rememberMe: rememberMe),
            ipAddress: context.clientIP, userAgent: request.headers[.userAgent])
        return try Response.json(
            try await body(session), headers: cookie.establishingHeaders(token: session.token, rememberMe: rememberMe))
    }

    static let userExists = AppError(
        .unprocessableContent, code: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        message: "User already exists. Use another email.")
    static let invalidCredentials = AppError(
        .unauthorized, code: "INVALID_EMAIL_OR_PASSWORD", message: "Invalid email or password")

    static func validate(email: String) throws {
        // The shape Better Auth's validator accepts: one @, a dotted domain, no spaces.
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let valid =
            email.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !email.contains(where: \.isWhitespace)
        guard valid else { throw AppError.badRequest("INVALID_EMAIL", "Invalid email") }
    }
}
