import HTTPTypes
import Hummingbird

/// CORS for an exact set of trusted origins, with credentials. Other origins get no CORS
/// headers at all, so browsers refuse to let their pages read our responses.
/// (Hummingbird's CORSMiddleware takes its origin list only as a variadic literal.)
public struct TrustedOriginCORSMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    let trustedOrigins: Set<String>
    static var allowMethods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var allowHeaders: String {
        "Accept, Authorization, Content-Type, X-Request-Id, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"
    }
    static var exposeHeaders: String {
        "set-auth-jwt, set-auth-token, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, Mcp-Session-Id, WWW-Authenticate"
    }

    public init(trustedOrigins: Set<String>) {
        self.trustedOrigins = trustedOrigins
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let origin = request.headers[.origin], trustedOrigins.contains(origin) else {
            var response = try await next(request, context)
            if request.headers[.origin] != nil { response.headers[values: .vary].append("Origin") }
            return response
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowCredentials: "true",
                .accessControlAllowMethods: Self.allowMethods,
                .accessControlAllowHeaders: Self.allowHeaders,
                .accessControlMaxAge: "600",
            ]
            headers[values: .vary].append("Origin")
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlAllowCredentials] = "true"
        response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        response.headers[values: .vary].append("Origin")
        return response
    }
}
