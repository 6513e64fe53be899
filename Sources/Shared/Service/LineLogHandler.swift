#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Dispatch
import Logging
import Synchronization

/// Writes swift-log events to standard error in `StreamLogHandler`'s line format
/// (`<time> <level> <label>: k=v … [<source>] <message>`, keys sorted), cheaply enough for one
/// line per request.
///
/// `StreamLogHandler` calls `localtime` per line — on glibc that `stat`s `/etc/localtime` every
/// time — and formats through stdio with a lock and a flush. Request logs cost a quarter of a
/// `/health` request that way. Here the timestamp is formatted once per second and lines leave
/// through a `LogOutput`, whole, in order, batched.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    /// Rendered only when a line is written: request loggers get metadata set per request
    /// (ids) and log once, so rendering on every change would be wasted.
    private var others = Logger.Metadata()
    /// The request's id, shown as `request_id`, in a slot of its own rather than the dictionary:
    /// it is set on every request (by Hummingbird as `hb.request.id`, then replaced by ours, the
    /// one `X-Request-Id` carries), and a dictionary would be copied each time.
    private var requestID: Logger.Metadata.Value?
    static let requestIDKey = "request_id"
    static let frameworkRequestIDKey = "hb.request.id"

    private let label: String
    private let output: LogOutput

    public init(
        label: String, output: LogOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { Self.isRequestID(key) ? requestID : others[key] }
        set {
            if Self.isRequestID(key) {
                requestID = newValue
            } else {
                others[key] = newValue
            }
        }
    }

    public var metadata: Logger.Metadata {
        get {
            var all = others
            all[Self.requestIDKey] = requestID
            return all
        }
        set {
            requestID = newValue[Self.requestIDKey] ?? newValue[Self.frameworkRequestIDKey]
            others = newValue.filter { !Self.isRequestID($0.key) }
        }
    }

    private static func isRequestID(_ key: String) -> Bool {
        key == requestIDKey || key == frameworkRequestIDKey
    }

    public func log(event: LogEvent) {
        var fields = [LogField]()
        fields.reserveCapacity(others.count + (event.metadata?.count ?? 0) + 3)
        collect(into: &fields)
        if let explicit = event.metadata { Self.add(explicit, to: &fields) }
        if let error = event.error {
            Self.add(
                ["error.message": "\(error)", "error.type": "\(String(reflecting: type(of: error)))"], to: &fields)
        }
        fields.sort { $0.key < $1.key }
        write(level: event.level, source: event.source, message: event.message.description, sorted: fields, [])
    }

    /// Writes a line whose own fields come rendered and sorted by key, without building swift-log's
    /// metadata dictionary: the request log line, once per request. The same line as
    /// `log(event:)` would write for those fields as metadata.
    public func log(level: Logger.Level, message: String, source: String, sortedFields own: [LogField]) {
        guard level >= logLevel else { return }
        var fields = [LogField]()
        collect(into: &fields)
        // The line's own fields win a key, as an event's metadata would.
        fields.removeAll { field in own.contains { $0.key == field.key } }
        fields.sort { $0.key < $1.key }
        write(level: level, source: source, message: message, sorted: fields, own)
    }

    /// The handler's metadata, then the provider's (a later source wins a key), rendered.
    private func collect(into fields: inout [LogField]) {
        Self.add(others, to: &fields)
        if let requestID { fields.append(LogField(Self.requestIDKey, Self.render(requestID))) }
        if let provided = metadataProvider?.get() { Self.add(provided, to: &fields) }
    }

    /// A small array, not a merged dictionary: a line has about seven entries, and hashing them
    /// all cost more than searching.
    private static func add(_ source: Logger.Metadata, to fields: inout [LogField]) {
        for (key, value) in source {
            let rendered = render(value)
            if let index = fields.firstIndex(where: { $0.key == key }) {
                fields[index].value = rendered
            } else {
                fields.append(LogField(key, rendered))
            }
        }
    }

    private static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        default: value.description
        }
    }

    /// `<time> <level> <label>: k=v … [<source>] <message>`, the fields of two sorted lists
    /// merged in key order, handed to the output as one line.
    private func write(level: Logger.Level, source: String, message: String, sorted a: [LogField], _ b: [LogField]) {
        // Bytes rather than a `String`: appending to a string checks its storage and encoding
        // at every piece, which was half the cost of the line.
        var line = [UInt8]()
        line.reserveCapacity(320)
        line.append(contentsOf: Self.timestamps.current().utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: level.rawValue.utf8)
        if !label.isEmpty {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: label.utf8)
        }
        line.append(UInt8(ascii: ":"))
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            let field: LogField
            if j == b.count || (i < a.count && a[i].key < b[j].key) {
                field = a[i]
                i += 1
            } else {
                field = b[j]
                j += 1
            }
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: field.key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: field.value.utf8)
        }
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: message.utf8)
        line.append(UInt8(ascii: "\n"))
        // Warnings and errors leave at once (with what is before them), so a crash right after
        // one cannot lose it.
        output.write(line, immediately: level >= .warning)
    }

    static let timestamps = SecondTimestamps()
}

/// Where log lines go: a file descriptor, written in batches.
///
/// One `write(2)` per line was over a third of the request log's cost. Like nginx's buffered
/// access log, lines collect in memory and leave together when 16 KiB have gathered or 20 ms
/// after the first of them, whichever is sooner; a warning or an error leaves at once with
/// everything before it, and `flush()` runs at exit. Writes happen under the lock, so lines from
/// different threads never interleave and keep their order. What a crash can lose is at most
/// 20 ms of info lines.
public final class LogOutput: Sendable {
    /// Standard error, where the services log.
    public static let standardError = LogOutput(fileDescriptor: 2)

    private struct State {
        var pending = [UInt8]()
        var flushScheduled = false
    }

    private let fileDescriptor: Int32
    private let capacity: Int
    private let delay: DispatchTimeInterval
    private let state = Mutex(State())

    public init(fileDescriptor: Int32, capacity: Int = 16 * 1024, delay: DispatchTimeInterval = .milliseconds(20)) {
        self.fileDescriptor = fileDescriptor
        self.capacity = capacity
        self.delay = delay
    }

    func write(_ line: [UInt8], immediately: Bool) {
        let schedule = state.withLock { state in
            state.pending.append(contentsOf: line)
            if immediately || state.pending.count >= capacity {
                writePending(&state)
                return false
            }
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        if schedule {
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { self.flush() }
        }
    }

    /// Writes whatever is waiting.
    public func flush() {
        state.withLock { state in
            state.flushScheduled = false
            writePending(&state)
        }
    }

    private func writePending(_ state: inout State) {
        guard !state.pending.isEmpty else { return }
        state.pending.withUnsafeBufferPointer { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Self.systemWrite(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // a closed or full log stream must not take the service down
                }
            }
        }
        state.pending.removeAll(keepingCapacity: true)
    }

    private static func systemWrite(_ fd: Int32, _ buffer: UnsafePointer<UInt8>, _ count: Int) -> Int {
        #if canImport(Glibc)
            Glibc.write(fd, buffer, count)
        #else
            Darwin.write(fd, buffer, count)
        #endif
    }
}

/// One `key=value` of a log line, its value already rendered.
public struct LogField: Sendable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// `2026-11-25T04:37:30+0000` for the current second, formatted when the second changes.
final class SecondTimestamps: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    func current() -> String {
        var now = time(nil)
        if let hit = cached.withLock({ $0.second == now ? $0.text : nil }) { return hit }
        let text = Self.format(&now)
        cached.withLock { $0 = (now, text) }
        return text
    }

    /// `localtime_r`, unlike `localtime`, does not re-check the time zone file on every call.
    static func format(_ time: inout time_t) -> String {
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
