import Foundation
import Shared
import HTTPTypes
import Hummingbird
import NIOCore

/// A scripted Claude for tests, speaking the Messages API (`POST /v1/messages`): each request
/// takes the next scripted turn (or the fallback), answered as JSON or — when the request says
/// `"stream": true` — as the documented server-sent events. It records every request.
public final class FakeAnthropic: Sendable {
    public enum Turn: Sendable {
        /// An assistant message: blocks as JSON objects (`text`, `tool_use`), a stop reason, usage.
        case message([[String: any Sendable]], stopReason: String, inputTokens: Int, outputTokens: Int)
        /// An error answer: status, error type, message, extra headers.
        case error(status: Int, type: String, message: String, headers: [String: String] = [:])
    }

    public struct Received: @unchecked Sendable {  // a parsed JSON tree, read only
        public let headers: HTTPFields
        public let body: [String: Any]

        public var messages: [[String: Any]] { body["messages"] as? [[String: Any]] ?? [] }
        public var toolNames: [String] {
            (body["tools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        }
    }

    public let script = SendableBox<[Turn]>([])
    /// Answered when the script has run out.
    public let fallback = SendableBox<Turn>(
        .message([["type": "text", "text": "Done."]], stopReason: "end_turn", inputTokens: 1, outputTokens: 1))
    public let received = SendableBox<[Received]>([])
    /// How long each answer takes to start (a long generation, not streamed), from the
    /// `delayFrom`-th request on (1-based).
    public let delay = SendableBox<Duration>(.zero)
    public let delayFrom = SendableBox(1)

    public init() {}

    public static func text(_ text: String) -> [String: any Sendable] { ["type": "text", "text": text] }

    public static func toolUse(_ id: String, _ name: String, _ input: [String: any Sendable]) -> [String: any Sendable]
    {
        ["type": "tool_use", "id": id, "name": name, "input": input]
    }

    public func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/messages") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 22)
            let body = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
            let count = self.received.update { received in
                received.append(Received(headers: request.headers, body: body))
                return received.count
            }
            let turn = self.script.update { $0.isEmpty ? nil : $0.removeFirst() } ?? self.fallback.get()
            if self.delay.get() > .zero, count >= self.delayFrom.get() { try await Task.sleep(for: self.delay.get()) }
            switch turn {
            case .error(let status, let type, let message, let extra):
                var headers: HTTPFields = [.contentType: "application/json"]
                for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
                let json = try JSONSerialization.data(withJSONObject: [
                    "type": "error", "error": ["type": type, "message": message],
                ])
                return Response(
                    status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
            case .message(let blocks, let stopReason, let input, let output):
                let id = "msg_" + UUID().uuidString.prefix(8)
                if body["stream"] as? Bool == true {
                    return Response(
                        status: .ok, headers: [.contentType: "text/event-stream"],
                        body: .init(
                            byteBuffer: ByteBuffer(string: Self.events(id: id, blocks, stopReason, input, output))))
                }
                let json = try JSONSerialization.data(withJSONObject: [
                    "id": id, "type": "message", "role": "assistant", "model": body["model"] ?? "", "content": blocks,
                    "stop_reason": stopReason, "stop_sequence": NSNull(),
                    "usage": ["input_tokens": input, "output_tokens": output],
                ])
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: json)))
            }
        }
    }

    /// The stream the API sends for a message: text in two deltas, tool input in two
    /// `input_json_delta` fragments, a ping, usage split between start and delta.
    static func events(
        id: String, _ blocks: [[String: any Sendable]], _ stopReason: String, _ input: Int, _ output: Int
    ) -> String {
        func event(_ name: String, _ object: [String: Any]) -> String {
            let data = try! JSONSerialization.data(withJSONObject: object)
            return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        }
        var text = event(
            "message_start",
            [
                "type": "message_start",
                "message": [
                    "id": id, "type": "message", "role": "assistant", "content": [], "model": "fake",
                    "stop_reason": NSNull(),
                    "usage": ["input_tokens": input, "output_tokens": 1],
                ],
            ])
        text += "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        for (index, block) in blocks.enumerated() {
            if block["type"] as? String == "tool_use" {
                let start: [String: Any] = [
                    "type": "tool_use", "id": block["id"] as? String ?? "", "name": block["name"] as? String ?? "",
                    "input": [String: Any](),
                ]
                text += event(
                    "content_block_start", ["type": "content_block_start", "index": index, "content_block": start])
                let json = String(decoding: try! JSONSerialization.data(withJSONObject: block["input"]!), as: UTF8.self)
                let middle = json.index(json.startIndex, offsetBy: json.count / 2)
                for part in [String(json[..<middle]), String(json[middle...])] {
                    text += event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": index,
                            "delta": ["type": "input_json_delta", "partial_json": part],
                        ])
                }
            } else {
                text += event(
                    "content_block_start",
                    ["type": "content_block_start", "index": index, "content_block": ["type": "text", "text": ""]])
                let whole = block["text"] as? String ?? ""
                let middle = whole.index(whole.startIndex, offsetBy: whole.count / 2)
                for part in [String(whole[..<middle]), String(whole[middle...])] where !part.isEmpty {
                    text += event(
                        "content_block_delta",
                        ["type": "content_block_delta", "index": index, "delta": ["type": "text_delta", "text": part]])
                }
            }
            text += event("content_block_stop", ["type": "content_block_stop", "index": index])
        }
        text += event(
            "message_delta",
            [
                "type": "message_delta", "delta": ["stop_reason": stopReason, "stop_sequence": NSNull()],
                "usage": ["output_tokens": output],
            ])
        text += event("message_stop", ["type": "message_stop"])
        return text
    }
}
