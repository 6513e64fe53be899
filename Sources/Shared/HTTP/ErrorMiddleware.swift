import HTTPTypes
import Hummingbird
import Logging

/// Turns every error thrown below it into a JSON `{code, message}` response, so no route or
/// middleware can produce a bare 500 or an empty body. Unknown errors are logged (once, here)
/// and answered 500 without detail.
public struct ErrorMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any RenderedError {
            return error.render()
        } catch let error as HTTPError {
            return AppError.from(error).render()
        } catch let error as DecodingError {
            return JSONBody.describe(error).render()
        } catch let error as any HTTPResponseError where error.status.code < 500 {
            // Library errors that carry a client status (e.g. NIOTooManyBytesError → 413).
            return AppError.from(HTTPError(error.status)).render()
        } catch {
            context.logger.error(
                "unhandled error",
                metadata: ["error.type": "\(String(reflecting: type(of: error)))", "error": "\(error)"])
            return AppError.internal.render()
        }
    }
}
