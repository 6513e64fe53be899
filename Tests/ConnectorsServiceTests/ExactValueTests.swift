import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCP
import NIOCore
import Testing
import TestSupport

@testable import ConnectorsService

/// Text that looks like a data URL ("data: 3 rows, 2 columns") is still text: read from a
/// provider, from Claude, from an MCP client or from a stored run, it reaches the other side
/// exactly as it was written.
@Suite struct ExactValueTests {
    static let dataLike = "data: 3 rows, 2 columns"
    static let dataURL = "data:text/plain;base64,aGk="

    @Test func jsonReadsAsTheValueItSpells() throws {
        let json = #"""
            {"a":"data: 3 rows, 2 columns","b":"data:text/plain;base64,aGk=","c":true,"d":7,"e":1.5,"f":null,
             "g":[1,"data:,x",false,{"h":[]}],"i":{}}
            """#
        let value = try ExactValue.decode(Data(json.utf8))
        let expected: Value = [
            "a": .string(Self.dataLike), "b": .string(Self.dataURL), "c": true, "d": 7, "e": 1.5, "f": .null,
            "g": [1, "data:,x", false, ["h": []]], "i": [:],
        ]
        #expect(value == expected)
        #expect(ExactValue.object(Data(#"["not","an","object"]"#.utf8)) == nil)
        #expect(throws: (any Error).self) { try ExactValue.decode(Data(#"{"a":"#.utf8)) }
    }

    /// Stored runs and steps are read back by their synthesized `Decodable`, through the
    /// keyed-container overloads.
    @Test func storedCallsAndStepsKeepTheirStrings() throws {
        let input: Value = ["channel": "C1", "text": .string(Self.dataLike), "blocks": [.string(Self.dataURL)]]
        let call = AgentRunState.Call(id: "toolu_1", name: "slack_post_message", input: input)
        let step = AgentStep(tool: "slack_post_message", input: input, isError: false, summary: "posted")
        let decodedCall = try JSONDecoder().decode(AgentRunState.Call.self, from: JSONEncoder().encode(call))
        let decodedStep = try JSONDecoder().decode(AgentStep.self, from: JSONEncoder().encode(step))
        #expect(decodedCall.input == input)
        #expect(decodedStep.input == input)
    }

    @Test func anAgentRunPostsAndReadsSuchTextVerbatim() async throws {
        try await AgentTests().withAgent { app, client, issuer, fakes in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1")
            try await TriggeredApprovalTests.allow(app, "slack_post_message")
            fakes.apis.thread.set([["user": "U0HUMAN", "text": Self.dataLike, "ts": "1700000000.000100"]])
            for stream in [false, true] {
                fakes.claude.received.set([])
                fakes.apis.posted.set([])
                fakes.claude.script.set([
                    .message(
                        [
                            FakeAnthropic.toolUse(
                                "toolu_r", "slack_read_thread", ["channel": "C1", "ts": "1700000000.000100"])
                        ], stopReason: "tool_use", inputTokens: 5, outputTokens: 5),
                    .message(
                        [
                            FakeAnthropic.toolUse(
                                "toolu_p", "slack_post_message", ["channel": "C1", "text": Self.dataLike])
                        ],
                        stopReason: "tool_use", inputTokens: 5, outputTokens: 5),
                    .message([FakeAnthropic.text("Posted.")], stopReason: "end_turn", inputTokens: 5, outputTokens: 5),
                ])
                let response = try await AgentTests().run(
                    client, issuer.token(sub: "user-1"), #"{"prompt":"Summarise the thread in it"}"#, stream: stream)
                #expect(response.status == .ok)
                // Posted as Claude wrote it.
                #expect(fakes.apis.posted.get().map { $0.text } == [Self.dataLike])
                // Claude was shown the thread's text as Slack has it.
                let results = fakes.claude.received.get()[1].messages[2]["content"] as? [[String: Any]]
                let shown = try #require(results?.first?["content"] as? String)
                let messages = try #require(
                    try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [[String: Any]])
                #expect(messages.first?["text"] as? String == Self.dataLike)
            }
        }
    }

    /// A tool answer over the result limit stays the JSON its schema promises when shortening
    /// its long strings is enough (an issue with a long body); only a list too long for that is
    /// cut as text.
    @Test func anOversizedToolAnswerKeepsItsShapeWhenItsLongStringsCanBeShortened() throws {
        let body = String(repeating: "Steps to reproduce. ", count: 1_500)
        let issue: Value = ["number": 7, "title": "Crash on start", "body": .string(body), "labels": ["bug"]]
        let fitted = ToolJSON.fitted(ToolJSON.text(issue), limit: 16_000)
        #expect(fitted.count <= 16_000)
        let value = try ExactValue.decode(Data(fitted.utf8))
        #expect(value.objectValue?.keys.sorted() == ["body", "labels", "number", "title"])
        #expect(value["title"] == "Crash on start" && value["number"] == 7)
        let shortened = try #require(value["body"]?.stringValue)
        #expect(shortened.hasPrefix(String(body.prefix(1_000))))
        #expect(shortened.hasSuffix("more characters]"))

        let list = Value.array(
            (0..<400).map {
                .object(["id": .string("item-\($0)"), "name": .string(String(repeating: "n", count: 60))])
            })
        let cut = ToolJSON.fitted(ToolJSON.text(list), limit: 16_000)
        #expect(cut.hasSuffix("characters in all]"))
        #expect((try? ExactValue.decode(Data(cut.utf8))) == nil)
        #expect(ToolJSON.fitted("short", limit: 16_000) == "short")
    }

    @Test func anMCPClientsArgumentsAndResultsKeepSuchText() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-1")
            fakes.apis.thread.set([["user": "U0HUMAN", "text": Self.dataLike, "ts": "1700000000.000100"]])
            func call(_ id: Int, _ name: String, _ arguments: String) async throws -> [String: Any] {
                try await MCPTests.callTool(client, token: issuer.accessToken(sub: "user-1"), id: id, name, arguments)
            }
            let posted = try await call(2, "slack_post_message", #"{"channel":"C1","text":"\#(Self.dataLike)"}"#)
            #expect(posted["isError"] as? Bool == false)
            #expect(fakes.apis.posted.get().map { $0.text } == [Self.dataLike])

            // Arguments that cannot be read still name the tool for the scope check.
            var readOnly = MCPTests.mcpHeaders
            readOnly[.authorization] = "Bearer \(issuer.accessToken(sub: "user-1", scope: "connectors:read"))"
            let unreadable =
                #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slack_post_message","arguments":{"channel":"C1","text":1e400}}}"#
            let refused = try await client.execute(
                uri: "/mcp", method: .post, headers: readOnly, body: ByteBuffer(string: unreadable))
            #expect(refused.status == .forbidden)
            #expect(refused.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)

            // A whole number past Int's range is refused as an argument (and shown on the trail as
            // written), not a trap that takes the service down.
            let huge = try await call(
                4, "slack_read_thread", #"{"channel":"C1","ts":"1700000000.000100","limit":1e300}"#)
            #expect(huge["isError"] as? Bool == true)
            let read = try await call(3, "slack_read_thread", #"{"channel":"C1","ts":"1700000000.000100"}"#)
            let structured = try #require(read["structuredContent"] as? [String: Any])
            let messages = try #require(structured["result"] as? [[String: Any]])
            #expect(messages.first?["text"] as? String == Self.dataLike)
            let text = try #require((read["content"] as? [[String: Any]])?.first?["text"] as? String)
            #expect(text.contains(Self.dataLike))
        }
    }
}
