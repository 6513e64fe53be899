import Foundation
import Logging
@testable import Shared
import TestSupport
import Testing

/// The log handler writes exactly what swift-log's `StreamLogHandler` would, whole lines in
/// order, so lines logged from many threads at once never interleave.
@Suite struct LineLogHandlerTests {
    /// A `TextOutputStream` that keeps what `StreamLogHandler` writes.
    final class Captured: TextOutputStream, @unchecked Sendable {
        let lock = NSLock()
        var text = ""
        func write(_ string: String) { lock.withLock { text += string } }
    }

    /// A log file in a temporary directory, opened for appending.
    struct LogFile {
        let path: String
        let descriptor: Int32
        let output: LogOutput

        init() {
            path = NSTemporaryDirectory() + "line-log-\(UUID().uuidString).log"
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            // A delay no test waits for: lines leave by size, level or flush.
            output = LogOutput(fileDescriptor: descriptor, delay: .seconds(3600))
        }

        init(path: String, descriptor: Int32, output: LogOutput) {
            self.path = path
            self.descriptor = descriptor
            self.output = output
        }

        static func timed(delay: DispatchTimeInterval) throws -> LogFile {
            let file = LogFile()
            return LogFile(
                path: file.path, descriptor: file.descriptor,
                output: LogOutput(fileDescriptor: file.descriptor, delay: delay))
        }

        /// What is in the file now, without flushing.
        func written() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

        func lines() throws -> [String] {
            output.flush()
            close(descriptor)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try String(contentsOfFile: path, encoding: .utf8).split(
                separator: "\n", omittingEmptySubsequences: false
            ).map(String.init)
        }
    }

    struct Failure: Error, CustomStringConvertible { var description: String { "pool exhausted" } }

    /// Drops the leading timestamp (the two handlers may format in different seconds).
    func withoutTimestamp(_ line: Substring) -> Substring { line.drop { $0 != " " } }

    @Test func linesMatchStreamLogHandler() throws {
        let file = LogFile()
        let captured = Captured()
        var ours = Logger(label: "AuthService") { label in
            LineLogHandler(label: label, output: file.output, metadataProvider: nil)
        }
        var reference = Logger(label: "AuthService") { label in
            StreamLogHandler(label: label, stream: captured, metadataProvider: nil)
        }
        ours[metadataKey: "request_id"] = "r-1"
        reference[metadataKey: "request_id"] = "r-1"
        ours[metadataKey: "zone"] = "base"
        reference[metadataKey: "zone"] = "base"

        for logger in [ours, reference] {
            logger.info(
                "request", metadata: ["status": .stringConvertible(200), "method": "GET", "zone": "explicit"],
                source: "Shared")
            logger.notice("no metadata of its own", source: "DB")
            logger.error(
                "failed", error: Failure(), metadata: ["tags": .array(["a", "b"]), "nested": .dictionary(["k": "v"])])
            logger.debug("below the level: not written")
        }

        let ourLines = try file.lines()
        let referenceLines = captured.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(ourLines.count == 4 && ourLines.last == "")
        #expect(ourLines.count == referenceLines.count)
        for (line, expected) in zip(ourLines, referenceLines) {
            #expect(withoutTimestamp(line[...]) == withoutTimestamp(expected))
        }
        #expect(
            withoutTimestamp(ourLines[0][...])
                == " info AuthService: method=GET request_id=r-1 status=200 zone=explicit [Shared] request")
        #expect(ourLines[2].contains("error.message=pool exhausted"))
        // The timestamp has StreamLogHandler's shape: local time with a numeric offset.
        #expect(ourLines[0].prefix(24).wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/) != nil)
    }

    /// The request line's own path gives the line the general path gives for the same fields.
    @Test func sortedFieldsLineMatchesTheGeneralPath() throws {
        let file = LogFile()
        let provider = Logger.MetadataProvider { ["trace_id": "t-9", "status": "from the provider"] }
        var logger = Logger(label: "ConnectorsService") { label in
            LineLogHandler(label: label, output: file.output, metadataProvider: provider)
        }
        logger[metadataKey: "request_id"] = "r-2"
        logger[metadataKey: "method"] = "shadowed"
        let handler = try #require(logger.handler as? LineLogHandler)
        let fields = [LogField("client_ip", "10.0.0.1"), LogField("method", "GET"), LogField("status", "200")]
        handler.log(level: .info, message: "request", source: "Shared", sortedFields: fields)
        logger.info(
            "request", metadata: ["client_ip": "10.0.0.1", "method": "GET", "status": "200"], source: "Shared")
        handler.log(level: .debug, message: "below the level", source: "Shared", sortedFields: fields)
        let lines = try file.lines()
        #expect(lines.count == 3)
        #expect(withoutTimestamp(lines[0][...]) == withoutTimestamp(lines[1][...]))
        #expect(
            withoutTimestamp(lines[0][...])
                == " info ConnectorsService: client_ip=10.0.0.1 method=GET request_id=r-2 status=200 trace_id=t-9 [Shared] request"
        )
    }

    /// A request has one id on its lines: Hummingbird's until ours replaces it, shown as
    /// `request_id` either way.
    @Test func oneRequestIDPerLine() throws {
        struct FrameworkID: CustomStringConvertible { var description: String { "hb-7" } }
        let file = LogFile()
        var logger = Logger(label: "S") { LineLogHandler(label: $0, output: file.output, metadataProvider: nil) }
        logger[metadataKey: "hb.request.id"] = .stringConvertible(FrameworkID())
        logger[metadataKey: "zone"] = "a"
        logger.info("before")
        logger[metadataKey: "request_id"] = "ours-1"
        #expect(logger[metadataKey: "hb.request.id"] == "ours-1")
        #expect(logger.handler.metadata == ["request_id": "ours-1", "zone": "a"])
        logger.info("after")
        logger[metadataKey: "request_id"] = nil
        logger.info("none")
        logger.handler.metadata = ["hb.request.id": "from-metadata", "zone": "b"]
        logger.info("replaced")
        let lines = try file.lines().map { withoutTimestamp($0[...]) }
        #expect(
            lines == [
                " info S: request_id=hb-7 zone=a [SharedTests] before",
                " info S: request_id=ours-1 zone=a [SharedTests] after",
                " info S: zone=a [SharedTests] none",
                " info S: request_id=from-metadata zone=b [SharedTests] replaced", "",
            ])
    }

    /// Info lines wait for a batch; a warning takes them out with it, in order; a full buffer
    /// leaves by itself; the timer flushes what is left.
    @Test func linesLeaveInBatchesAndInOrder() async throws {
        let file = LogFile()
        let logger = Logger(label: "T") { label in
            LineLogHandler(label: label, output: file.output, metadataProvider: nil)
        }
        logger.info("first")
        logger.info("second")
        #expect(try file.written() == "")
        logger.warning("third")
        #expect(
            try file.written().split(separator: "\n").map { $0.split(separator: " ").last! } == [
                "first", "second", "third",
            ])

        let padding = String(repeating: "p", count: 1000)
        for _ in 0..<20 { logger.info("\(padding)") }
        let afterFull = try file.written().split(separator: "\n").count
        #expect(afterFull > 3 && afterFull < 3 + 20, "a 16 KiB batch left by itself: \(afterFull) lines")

        let timed = try LogFile.timed(delay: .milliseconds(50))
        let quick = Logger(label: "T") { LineLogHandler(label: $0, output: timed.output, metadataProvider: nil) }
        quick.info("soon")
        try await eventually(timeout: .seconds(30), "the timer flushes") { try timed.written().contains("soon") }
        _ = try timed.lines()
        _ = try file.lines()
    }

    @Test func concurrentLinesStayWhole() async throws {
        let file = LogFile()
        let logger = Logger(label: "T") { label in
            LineLogHandler(label: label, output: file.output, metadataProvider: nil)
        }
        let padding = String(repeating: "x", count: 300)
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for n in 0..<250 {
                        logger.info("line", metadata: ["writer": "\(writer)", "n": "\(n)", "pad": .string(padding)])
                    }
                }
            }
        }
        let lines = try file.lines().dropLast()
        #expect(lines.count == 8 * 250)
        let pattern = /.* info T: n=(\d+) pad=x{300} writer=(\d) \[SharedTests\] line/
        #expect(lines.allSatisfy { $0.wholeMatch(of: pattern) != nil })
        #expect(Set(lines.compactMap { $0.wholeMatch(of: pattern).map { "\($0.2)/\($0.1)" } }).count == 8 * 250)
    }
}
