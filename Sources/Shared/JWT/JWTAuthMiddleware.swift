import HTTPTypes
import Hummingbird
import Logging

/// A request context that can carry the caller a verified JWT names.
public protocol AuthenticatedRequestContext: ServiceRequestContext {
    var user: AuthenticatedUser? { get set }
}

/// `Authorization: Bearer <jwt>` → `context.user`. Any failure is 401 `UNAUTHORIZED` with
/// `WWW-Authenticate: Bearer error="invalid_token"`, whatever went wrong (the reason is only
/// logged, at debug). `optional` lets an absent header through as an anonymous request; a
/// header that is present must still be valid.
public struct JWTAuthMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let verifier: JWTVerifier
    let optional: Bool

    public init(_ verifier: JWTVerifier, optional: Bool = false) {
        self.verifier = verifier
        self.optional = optional
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization] else {
            if optional { return try await next(request, context) }
            throw Self.unauthorized("A bearer token is required.")
        }
        guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw Self.unauthorized("The Authorization header must be `Bearer <token>`.")
        }
        let token = String(authorization.dropFirst(7).drop(while: { $0 == " " }))
        var context = context
        do {
            context.user = try await verifier.verify(token)
        } catch {
            context.logger.debug("rejected a bearer token", metadata: ["reason": "\(error)"])
            throw Self.unauthorized("The bearer token is invalid or expired.")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String) -> AppError {
        AppError(.unauthorized, code: "UNAUTHORIZED", message: message, headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
    }
}
