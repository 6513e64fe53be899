import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOHTTP1
import Shared
import Testing

@testable import ConnectorsService

/// Which Messages API failures are retried, and how the stream is reassembled.
@Suite struct AnthropicClientTests {
    let client = AnthropicClient(
        http: HTTPClient.shared, settings: .init(apiKey: "k", model: "m", baseURL: "http://127.0.0.1:9"),
        logger: Logger(label: "t"))

    func error(_ status: Int, _ body: String, headers: [(String, String)] = []) -> Anthropic.APIError {
        AnthropicClient.apiError(status: status, body: Data(body.utf8), headers: HTTPHeaders(headers))
    }

    @Test func transientFailuresAreRetriedAndFinalOnesAreNot() {
        let overloaded = error(529, #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        #expect(overloaded.type == "overloaded_error")
        #expect(client.retryDelay(overloaded, attempt: 1) != nil)
        let rateLimited = error(
            429, #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            headers: [("retry-after", "7")])
        #expect(client.retryDelay(rateLimited, attempt: 1) == .seconds(7))
        let tooLong = error(
            429, #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            headers: [("retry-after", "600")])
        #expect(client.retryDelay(tooLong, attempt: 1) == nil)
        // Header values that are numbers but not sensible waits neither trap nor are obeyed.
        for (value, retried) in [("1e300", false), ("nan", true), ("inf", true), ("-5", true)] {
            let odd = error(
                429, #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
                headers: [("retry-after", value)])
            #expect((client.retryDelay(odd, attempt: 1) != nil) == retried, "\(value)")
        }
        let spend = error(
            429,
            #"{"type":"error","error":{"type":"rate_limit_error","message":"monthly cap","details":{"error_code":"enforced_spend_limit_reached"}}}"#
        )
        #expect(spend.type == "spend_limit")
        #expect(client.retryDelay(spend, attempt: 1) == nil)
        for status in [400, 401, 403, 404, 413] {
            #expect(
                client.retryDelay(error(status, #"{"type":"error","error":{"type":"x","message":"no"}}"#), attempt: 1)
                    == nil)
        }
        #expect(client.retryDelay(AnthropicClient.NetworkFailure(description: "reset"), attempt: 2) != nil)
        #expect(error(502, "<html>bad gateway</html>").message == "HTTP 502")
    }

    @Test func theStreamAssemblerKeepsOrderIgnoresUnknownsAndSumsUsage() throws {
        var assembler = AnthropicStreamAssembler()
        let events: [(String, String)] = [
            (
                "message_start",
                #"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":12,"output_tokens":1}}}"#
            ),
            (
                "content_block_start",
                #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#
            ),
            (
                "content_block_start",
                #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#
            ),
            (
                "content_block_delta",
                #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#
            ),
            (
                "content_block_start",
                #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"t","input":{},"caller":{"type":"direct"}}}"#
            ),
            (
                "content_block_delta",
                #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#
            ),
            ("something_new", #"{"type":"something_new"}"#),
            (
                "message_delta",
                #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#
            ),
            ("message_stop", #"{"type":"message_stop"}"#),
        ]
        var texts = [String]()
        for (name, data) in events {
            if let text = try assembler.apply(ServerSentEvent(event: name, data: data)) { texts.append(text) }
        }
        let message = try assembler.finish()
        #expect(texts == ["Hi"])
        #expect(message.content == [.other("thinking"), .text("Hi"), .toolUse(id: "toolu_9", name: "t", input: [:])])
        #expect(message.stopReason == "tool_use")
        #expect(message.usage == Anthropic.Usage(inputTokens: 12, outputTokens: 30))

        var broken = AnthropicStreamAssembler()
        #expect(throws: Anthropic.APIError.self) {
            try broken.apply(
                ServerSentEvent(
                    event: "error",
                    data: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        }
        #expect(throws: Anthropic.APIError.self) { try AnthropicStreamAssembler().finish() }
    }

    /// A turn cut off by `max_tokens` while writing a tool call's input ends with the text it
    /// had; the unfinished call is dropped (its input is not JSON). Unfinished JSON under any
    /// other stop reason is still an invalid answer.
    @Test func aToolCallCutOffByMaxTokensIsDroppedAndTheTurnEnds() throws {
        func assembled(stopReason: String) throws -> Anthropic.Response {
            var assembler = AnthropicStreamAssembler()
            for (name, data) in [
                ("message_start", #"{"type":"message_start","message":{"id":"msg_2","usage":{"input_tokens":5}}}"#),
                (
                    "content_block_start",
                    #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                ),
                (
                    "content_block_delta",
                    #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Filing it."}}"#
                ),
                (
                    "content_block_start",
                    #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_c","name":"github_create_issue","input":{}}}"#
                ),
                (
                    "content_block_delta",
                    #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"title\":\"Crash\",\"body\":\"Steps"}}"#
                ),
                (
                    "message_delta",
                    #"{"type":"message_delta","delta":{"stop_reason":"\#(stopReason)"},"usage":{"output_tokens":4096}}"#
                ),
                ("message_stop", #"{"type":"message_stop"}"#),
            ] {
                _ = try assembler.apply(ServerSentEvent(event: name, data: data))
            }
            return try assembler.finish()
        }
        let cut = try assembled(stopReason: "max_tokens")
        #expect(cut.content == [.text("Filing it.")])
        #expect(cut.stopReason == "max_tokens")
        #expect(throws: Anthropic.APIError.self) { try assembled(stopReason: "tool_use") }
    }
}

/// Tool arguments as Claude sends them (decoded JSON), read with typed accessors.
@Suite struct ToolInputTests {
    @Test func numbersStringsAndMissingArgumentsReadAsExpected() throws {
        let value = try JSONDecoder().decode(
            MCP.Value.self, from: Data(#"{"number":7,"big":7.0,"text":"12","flag":true,"repo":"acme/app"}"#.utf8))
        let input = ToolInput(value)
        #expect(try input.int("number") == 7)
        #expect(try input.int("big") == 7)
        #expect(try input.int("text") == 12)
        #expect(throws: ToolFailure.self) { try input.int("flag") }
        #expect(throws: ToolFailure.self) { try input.string("missing") }
        #expect(try input.int("missing", default: 10) == 10)
        #expect(throws: ToolFailure.self) { try input.int("number", range: 8...9) }
        // Whole numbers past Int's range, and fractions, are refused rather than trapping.
        for huge in [Value.double(1e300), .double(-1e300), .double(2.5)] {
            #expect(throws: ToolFailure.self) { try ToolInput(["limit": huge]).int("limit") }
        }
        #expect(try GitHubTools.repository(input) == "acme/app")
        for bad in [#"{"repo":"../etc"}"#, #"{"repo":"a/b/c"}"#, #"{"repo":"a/.."}"#, #"{"repo":"a?x=1/b"}"#] {
            let input = ToolInput(try JSONDecoder().decode(MCP.Value.self, from: Data(bad.utf8)))
            #expect(throws: ToolFailure.self) { try GitHubTools.repository(input) }
        }
    }
}
