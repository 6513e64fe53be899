import Logging

/// The one structured log line per request, after the response: method, route, path (never the
/// query string, which can carry OAuth codes), status, duration, client and request id (the
/// logger's metadata).
enum RequestLog {
    static func write(
        _ logger: Logger, method: String, path: String, route: String, status: Int, micros: UInt64, clientIP: String
    ) {
        logger.log(
            level: status >= 500 ? .error : .info, "request",
            metadata: [
                "method": .string(method), "path": .string(path), "route": .string(route),
                "status": .stringConvertible(status), "duration_ms": .string(milliseconds(micros: micros)),
                "client_ip": .string(clientIP),
            ])
    }

    /// Microseconds as milliseconds with two decimals ("12.34"); `String(format:)` goes through
    /// NSString and the locale machinery on Linux, which showed in per-request profiles.
    static func milliseconds(micros: UInt64) -> String {
        let hundredths = (micros + 5) / 10
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }
}
