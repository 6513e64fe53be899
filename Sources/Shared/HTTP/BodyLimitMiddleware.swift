import HTTPTypes
import Hummingbird

/// Sets the body limit for a route group and refuses a declared `Content-Length` above it
/// before any byte of the body is read.
public struct BodyLimitMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    let limit: Int

    public init(_ limit: Int) {
        self.limit = limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw AppError.payloadTooLarge(limit: limit)
        }
        var context = context
        context.maxUploadSize = limit
        return try await next(request, context)
    }
}
