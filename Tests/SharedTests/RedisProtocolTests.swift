import NIOCore
import Testing

@testable import Shared

/// libhiredis's formatter and reader, through our wrappers, on known RESP bytes.
@Suite struct RedisProtocolTests {
    @Test func formatsCommandsAsRESPArrays() {
        let buffer = RedisCommandFormatter.format([Array("SET".utf8), Array("key".utf8), [0, 13, 10, 255]])
        #expect(
            String(decoding: buffer.readableBytesView, as: UTF8.self).hasPrefix(
                "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\n"))
        #expect(Array(buffer.readableBytesView.suffix(6)) == [0, 13, 10, 255, 13, 10])
    }

    @Test func formatsEmptyArguments() {
        let buffer = RedisCommandFormatter.format([Array("ECHO".utf8), []])
        #expect(String(decoding: buffer.readableBytesView, as: UTF8.self) == "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n")
    }

    @Test func readsRepliesSplitAcrossReads() throws {
        let reader = RedisReplyReader()
        let wire = Array("+OK\r\n:42\r\n$5\r\nhello\r\n*3\r\n$1\r\na\r\n$-1\r\n*1\r\n:7\r\n-ERR nope\r\n".utf8)
        var replies = [RESPValue]()
        for byte in wire {
            reader.feed(ByteBuffer(bytes: [byte]))
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(
            replies == [
                .status("OK"), .integer(42), .bulk(Array("hello".utf8)),
                .array([.bulk([97]), .null, .array([.integer(7)])]), .error("ERR nope"),
            ])
    }

    @Test func rejectsBytesThatAreNotRESP() {
        let reader = RedisReplyReader()
        reader.feed(ByteBuffer(string: "?what\r\n"))
        #expect(throws: RedisError.self) { try reader.next() }
    }
}
