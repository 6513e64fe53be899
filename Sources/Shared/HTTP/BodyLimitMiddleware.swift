import HTTPTypes
import Hummingbird

/// Sets the body limit for a route group and refuses a declared `Content-Length` above it
/// before any byte of the body is read.
public struct BodyLimitMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    let limit: Int
    /// What a declared length over the limit is answered with, for routes whose errors have a
    /// shape of their own (OAuth's); 413 `PAYLOAD_TOO_LARGE` otherwise.
    let refusal: @Sendable (Request, Int) -> any Error

    public init(
        _ limit: Int, refusal: @escaping @Sendable (Request, Int) -> any Error = { AppError.payloadTooLarge(limit: $1) }
    ) {
        self.limit = limit
        self.refusal = refusal
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw refusal(request, limit)
        }
        var context = context
        context.maxUploadSize = limit
        return try await next(request, context)
    }
}
