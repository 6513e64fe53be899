import HTTPTypes
import Hummingbird
import Logging

/// Every error a route or middleware throws, as the JSON `{code, message}` response the client
/// gets: no route can produce a bare 500 or an empty body. Unknown errors are logged (once,
/// here) and answered 500 without detail.
enum ErrorRendering {
    static func response(for error: any Error, logger: Logger) -> Response {
        switch error {
        case let error as any RenderedError: return error.render()
        case let error as HTTPError: return AppError.from(error).render()
        case let error as DecodingError: return JSONBody.describe(error).render()
        case let error as any ClientFacingError where error.clientError != nil:
            let answer = error.clientError ?? AppError.internal
            logger.warning(
                "dependency error answered \(answer.status.code)",
                metadata: ["error.type": "\(String(reflecting: type(of: error)))", "code": "\(answer.code)"])
            return answer.render()
        // Library errors that carry a client status (e.g. NIOTooManyBytesError → 413).
        case let error as any HTTPResponseError where error.status.code < 500:
            return AppError.from(HTTPError(error.status)).render()
        default:
            logger.error(
                "unhandled error",
                metadata: ["error.type": "\(String(reflecting: type(of: error)))", "error": "\(error)"])
            return AppError.internal.render()
        }
    }
}
