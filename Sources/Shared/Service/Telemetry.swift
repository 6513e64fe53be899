#if canImport(Glibc)
    import Glibc
#endif
import Logging
import Metrics
import Prometheus
import Synchronization

/// Process-wide logging and metrics backends. swift-log and swift-metrics may be bootstrapped
/// only once per process, so this is idempotent (tests build many applications in one process).
public enum Telemetry {
    /// The registry `/metrics` renders.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    public static func bootstrap(logLevel: Logger.Level) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        // Buffered lines leave when the process exits normally (a SIGTERM ends in `exit`).
        atexit { LogOutput.standardError.flush() }
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label)
            handler.logLevel = logLevel
            return handler
        }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
    }

    /// Prometheus names allow `[a-zA-Z0-9_:]`; swift-metrics labels from libraries use dots.
    /// Runs whenever a metric object is made, which some routes do per request: names that are
    /// already valid (most) are checked over bytes and returned as they are.
    static func sanitize(_ name: String) -> String {
        func allowed(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
        }
        if name.utf8.allSatisfy(allowed) { return name }
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }
}
