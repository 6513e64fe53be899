import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// CSRF protection as Better Auth does it: a request that carries cookies and is not a GET
/// must come from a trusted origin, named by `Origin` (or, failing that, `Referer`).
/// Requests without cookies (API clients using bearer tokens) are not subject to it.
struct OriginCheckMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    let trustedOrigins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method != .get, request.method != .head, request.method != .options,
            request.headers[.cookie] != nil
        else {
            return try await next(request, context)
        }
        let claimed = request.headers[.origin] ?? request.headers[.referer].flatMap(Origin.normalise)
        guard let claimed, claimed != "null" else {
            throw AppError.forbidden("MISSING_OR_NULL_ORIGIN", "Missing or null Origin")
        }
        guard let origin = Origin.normalise(claimed), trustedOrigins.contains(origin) else {
            throw AppError.forbidden("INVALID_ORIGIN", "Invalid origin")
        }
        return try await next(request, context)
    }
}
