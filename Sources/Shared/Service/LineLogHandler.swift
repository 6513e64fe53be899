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
        // Built in one pre-sized string: this runs once per request (the request log line).
        var line = Self.timestamps.current()
        line.reserveCapacity(256)
        line += " "
        line += event.level.rawValue
        if !label.isEmpty {
            line += " "
            line += label
        }
        line += ":"
        appendMetadata(event, to: &line)
        line += " ["
        line += event.source
        line += "] "
        line += event.message.description
        line += "\n"
        Self.write(line, to: fileDescriptor)
    }

    /// ` key=value` for every entry, sorted by key: the handler's, then the provider's, then the
    /// event's own (a later source wins a key). A small array, not a merged dictionary: a
    /// request line has about seven entries, and hashing them all cost more than sorting.
    private func appendMetadata(_ event: LogEvent, to line: inout String) {
        var entries = [(key: String, value: Logger.Metadata.Value)]()
        entries.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 2)
        func add(_ source: Logger.Metadata) {
            for (key, value) in source {
                if let index = entries.firstIndex(where: { $0.key == key }) {
                    entries[index].value = value
                } else {
                    entries.append((key, value))
                }
            }
        }
        add(metadata)
        if let provided = metadataProvider?.get() { add(provided) }
        if let explicit = event.metadata { add(explicit) }
        if let error = event.error {
            add(["error.message": "\(error)", "error.type": "\(String(reflecting: type(of: error)))"])
        }
        entries.sort { $0.key < $1.key }
        for (key, value) in entries {
            line += " "
            line += key
            line += "="
            switch value {
            case .string(let text): line += text
            default: line += value.description
            }
        }
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
