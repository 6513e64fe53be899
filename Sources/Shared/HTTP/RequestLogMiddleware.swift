import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// One structured log line per request, after the response: method, route, path (never the
/// query string, which can carry OAuth codes), status, duration, client and request id.
public struct RequestLogMiddleware<Context: ServiceRequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = DispatchTime.now().uptimeNanoseconds
        let response = try await next(request, context)
        let micros = (DispatchTime.now().uptimeNanoseconds - start) / 1000
        let level: Logger.Level = response.status.code >= 500 ? .error : .info
        context.logger.log(
            level: level, "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "route": .string(context.endpointPath ?? "NotFound"),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(Self.milliseconds(micros: micros)),
                "client_ip": .string(context.clientIP),
            ])
        return response
    }

    /// Microseconds as milliseconds with two decimals ("12.34"); `String(format:)` goes through
    /// NSString and the locale machinery on Linux, which showed in per-request profiles.
    static func milliseconds(micros: UInt64) -> String {
        let hundredths = (micros + 5) / 10
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }
}
