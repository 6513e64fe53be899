import Dispatch
import HTTPTypes
import Metrics
import Synchronization

/// The per-request metrics Hummingbird's `MetricsMiddleware` keeps, under the same names —
/// `hb_requests` and the `http_server_request_duration` histogram per route, method and status,
/// and `http_server_active_requests` per method — with their metric objects made once per key.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct Recorders: Sendable {
        let counter: Counter
        let timer: Timer
    }

    private let byKey = Mutex([Key: Recorders]())
    private let active = Mutex([HTTPRequest.Method: Meter]())

    /// The in-flight gauge for `method`.
    func activeRequests(_ method: HTTPRequest.Method) -> Meter {
        active.withLock { meters in
            if let meter = meters[method] { return meter }
            let meter = Meter(
                label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            meters[method] = meter
            return meter
        }
    }

    func record(route: String, method: HTTPRequest.Method, status: Int, nanoseconds: UInt64) {
        let key = Key(route: route, method: method, status: status)
        let recorders = byKey.withLock { recorders in
            if let known = recorders[key] { return known }
            let dimensions = [
                ("http.route", route), ("http.request.method", method.rawValue),
                ("http.response.status_code", String(status)),
            ]
            let made = Recorders(
                counter: Counter(label: "hb.requests", dimensions: dimensions),
                timer: Timer(
                    label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
            recorders[key] = made
            return made
        }
        recorders.counter.increment()
        recorders.timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
