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
///
/// With `resourceMetadata` (an MCP endpoint), the challenge also names the RFC 9728 document
/// that tells a client where to get a token: `Bearer resource_metadata="…", error=…`.
public struct JWTAuthMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let verifier: JWTVerifier
    let optional: Bool
    let challenge: String

    public init(_ verifier: JWTVerifier, optional: Bool = false, resourceMetadata: String? = nil) {
        self.verifier = verifier
        self.optional = optional
        self.challenge =
            "Bearer " + (resourceMetadata.map { #"resource_metadata="\#($0)", "# } ?? "") + #"error="invalid_token""#
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let authorization = request.headers[.authorization] else {
            if optional { return try await next(request, context) }
            throw unauthorized("A bearer token is required.")
        }
        // Over UTF-8 bytes: counting a token's characters walks every grapheme of it.
        let bytes = authorization.utf8
        guard bytes.count > 7,
            zip(bytes.prefix(7), "bearer ".utf8).allSatisfy({ ((0x41...0x5A).contains($0) ? $0 | 0x20 : $0) == $1 })
        else {
            throw unauthorized("The Authorization header must be `Bearer <token>`.")
        }
        let token = String(Substring(bytes.dropFirst(7).drop(while: { $0 == UInt8(ascii: " ") })))
        var context = context
        do {
            context.user = try await verifier.verify(token)
        } catch {
            context.logger.debug("rejected a bearer token", metadata: ["reason": "\(error)"])
            throw unauthorized("The bearer token is invalid or expired.")
        }
        return try await next(request, context)
    }

    func unauthorized(_ message: String) -> AppError {
        AppError(.unauthorized, code: "UNAUTHORIZED", message: message, headers: [.wwwAuthenticate: challenge])
    }
}
