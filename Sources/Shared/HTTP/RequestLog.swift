import Logging

/// The one structured log line per request, after the response: method, route, path (never the
/// query string, which can carry OAuth codes), status, duration, client and request id (the
/// logger's metadata).
enum RequestLog {
    static func write(
        _ logger: Logger, method: String, path: String, route: String, status: Int, micros: UInt64, clientIP: String
    ) {
        let level: Logger.Level = status >= 500 ? .error : .info
        guard logger.logLevel <= level else { return }
        // Sorted by key, as the line shows them.
        let fields = [
            LogField("client_ip", clientIP), LogField("duration_ms", milliseconds(micros: micros)),
            LogField("method", method), LogField("path", path), LogField("route", route),
            LogField("status", String(status)),
        ]
        if let handler = logger.handler as? LineLogHandler {
            // Our own handler renders the line without swift-log's metadata dictionary, which
            // cost a tenth of a `/health` request.
            handler.log(level: level, message: "request", source: "Shared", sortedFields: fields)
        } else {
            var metadata = Logger.Metadata()
            for field in fields { metadata[field.key] = .string(field.value) }
            logger.log(level: level, "request", metadata: metadata, source: "Shared")
        }
    }

    /// Microseconds as milliseconds with two decimals ("12.34"); `String(format:)` goes through
    /// NSString and the locale machinery on Linux, which showed in per-request profiles.
    static func milliseconds(micros: UInt64) -> String {
        let hundredths = (micros + 5) / 10
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }
}
