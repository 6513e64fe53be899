import Shared
import Testing

/// The `text/event-stream` parser and encoder (WHATWG rules).
@Suite struct ServerSentEventsTests {
    @Test func eventsSplitAnywhereAndInAnyLineEndingParseTheSame() {
        let stream =
            "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: a comment\n\nevent: ping\ndata:{}\n\ndata: line one\rdata: line two\r\r"
        let whole = {
            var parser = ServerSentEventParser(); return parser.consume(Array(stream.utf8))
        }()
        #expect(
            whole == [
                ServerSentEvent(event: "message_start", data: #"{"a":1}"#),
                ServerSentEvent(event: "ping", data: "{}"),
                ServerSentEvent(event: nil, data: "line one\nline two"),
            ])
        // Byte by byte — including a CRLF cut between its CR and LF — gives the same events.
        var parser = ServerSentEventParser()
        var split = [ServerSentEvent]()
        for byte in Array(stream.utf8) { split += parser.consume([byte]) }
        #expect(split == whole)
    }

    @Test func anEventWithoutDataIsNotDispatchedAndEncodingRoundTrips() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("event: lonely\n\n".utf8)).isEmpty)
        let event = ServerSentEvent(event: "text", data: "two\nlines")
        #expect(event.encoded == "event: text\ndata: two\ndata: lines\n\n")
        #expect(parser.consume(Array(event.encoded.utf8)) == [event])
    }
}
