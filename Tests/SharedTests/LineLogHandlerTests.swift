import Foundation
import Logging
@testable import Shared
import Testing

/// The log handler writes exactly what swift-log's `StreamLogHandler` would, one whole line per
/// `write`, so lines logged from many threads at once never interleave.
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

        init() {
            path = NSTemporaryDirectory() + "line-log-\(UUID().uuidString).log"
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        }

        func lines() throws -> [String] {
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
            LineLogHandler(label: label, fileDescriptor: file.descriptor, metadataProvider: nil)
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

    @Test func concurrentLinesStayWhole() async throws {
        let file = LogFile()
        let logger = Logger(label: "T") { label in
            LineLogHandler(label: label, fileDescriptor: file.descriptor, metadataProvider: nil)
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
