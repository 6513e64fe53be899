#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Logging
import Synchronization

/// Writes swift-log events to standard error in `StreamLogHandler`'s line format
/// (`<time> <level> <label>: k=v … [<source>] <message>`, keys sorted), cheaply enough for one
/// line per request.
///
/// `StreamLogHandler` calls `localtime` per line — on glibc that `stat`s `/etc/localtime` every
/// time — and formats through stdio with a lock and a flush. Request logs cost a quarter of a
/// `/health` request that way. Here the timestamp is formatted once per second and each line
/// leaves in a single `write(2)`, so lines from different threads never interleave.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    /// Rendered only when a line is written: request loggers get metadata set per request
    /// (ids) and log once, so rendering on every change would be wasted.
    public var metadata = Logger.Metadata()

    private let label: String
    private let fileDescriptor: Int32

    public init(
        label: String, fileDescriptor: Int32 = 2,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.timestamps.current()
        line += " \(event.level)"
        if !label.isEmpty { line += " " + label }
        line += ":"
        line += lineMetadata(event)
        line += " [\(event.source)] \(event.message)\n"
        Self.write(line, to: fileDescriptor)
    }

    /// The handler's metadata with the provider's, the event's and its error's on top.
    private func lineMetadata(_ event: LogEvent) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return Self.render(merged)
    }

    /// ` k=v k=v`, sorted by key; empty for no metadata.
    static func render(_ metadata: Logger.Metadata) -> String {
        var out = ""
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            out += " " + key + "=" + value.description
        }
        return out
    }

    static func write(_ line: String, to fileDescriptor: Int32) {
        var line = line
        line.withUTF8 { bytes in
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
    }

    private static func systemWrite(_ fd: Int32, _ buffer: UnsafePointer<UInt8>, _ count: Int) -> Int {
        #if canImport(Glibc)
            Glibc.write(fd, buffer, count)
        #else
            Darwin.write(fd, buffer, count)
        #endif
    }

    static let timestamps = SecondTimestamps()
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
