import HTTPTypes
import Hummingbird

/// CORS for an exact set of trusted origins, with credentials. Other origins get no CORS
/// headers at all, so browsers refuse to let their pages read our responses.
/// (Hummingbird's CORSMiddleware takes its origin list only as a variadic literal.)
public struct TrustedOriginCORS: Sendable {
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

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from a
    /// trusted origin; nil for any other request.
    func preflight(_ request: Request, origin: String?) -> Response? {
        guard let origin, request.method == .options, request.headers[.accessControlRequestMethod] != nil,
            trustedOrigins.contains(origin)
        else { return nil }
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

    /// A response to a request that came with `Origin`: the CORS headers when it is trusted,
    /// `Vary: Origin` either way. Requests without `Origin` are left alone.
    func decorate(_ response: inout Response, origin: String?) {
        guard let origin else { return }
        if trustedOrigins.contains(origin) {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlAllowCredentials] = "true"
            response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        }
        response.headers[values: .vary].append("Origin")
    }
}
