import Foundation
import MCP
import Shared

/// Rebuilds one assistant message from the Messages API's server-sent events: text and tool
/// blocks by index, tool input from its `input_json_delta` fragments (parsed once the block
/// stops), the stop reason and the cumulative usage. Unknown events and blocks are ignored.
struct AnthropicStreamAssembler {
    private enum Partial {
        case text(String)
        case toolUse(id: String, name: String, json: String)
        case other(String)
    }

    private var id = ""
    private var blocks: [Int: Partial] = [:]
    private var stopReason: String?
    private var usage = Anthropic.Usage()
    private var stopped = false

    /// Applies one event; returns the text fragment it added, if any.
    mutating func apply(_ event: ServerSentEvent) throws -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any] else {
            if event.event == "ping" { return nil }
            throw Anthropic.APIError(status: 200, type: "invalid_response", message: "unreadable stream event \(event.event ?? "")")
        }
        switch object["type"] as? String ?? event.event {
        case "message_start":
            let message = object["message"] as? [String: Any]
            id = message?["id"] as? String ?? ""
            take(message?["usage"])
        case "content_block_start":
            guard let index = (object["index"] as? NSNumber)?.intValue, let block = object["content_block"] as? [String: Any] else { return nil }
            switch block["type"] as? String {
            case "text": blocks[index] = .text(block["text"] as? String ?? "")
            case "tool_use": blocks[index] = .toolUse(id: block["id"] as? String ?? "", name: block["name"] as? String ?? "", json: "")
            case let type: blocks[index] = .other(type ?? "unknown")
            }
        case "content_block_delta":
            guard let index = (object["index"] as? NSNumber)?.intValue, let delta = object["delta"] as? [String: Any] else { return nil }
            switch (blocks[index], delta["type"] as? String) {
            case (.text(let text), "text_delta"):
                let fragment = delta["text"] as? String ?? ""
                blocks[index] = .text(text + fragment)
                return fragment.isEmpty ? nil : fragment
            case (.toolUse(let id, let name, let json), "input_json_delta"):
                blocks[index] = .toolUse(id: id, name: name, json: json + (delta["partial_json"] as? String ?? ""))
            default: break
            }
        case "message_delta":
            if let reason = (object["delta"] as? [String: Any])?["stop_reason"] as? String { stopReason = reason }
            take(object["usage"])
        case "message_stop":
            stopped = true
        case "error":
            let error = object["error"] as? [String: Any]
            throw Anthropic.APIError(status: 200, type: error?["type"] as? String ?? "error", message: error?["message"] as? String ?? "stream error")
        default:
            break
        }
        return nil
    }

    /// The message, once `message_stop` has arrived.
    func finish() throws -> Anthropic.Response {
        guard stopped else { throw Anthropic.APIError(status: 200, type: "incomplete_stream", message: "the stream ended before message_stop") }
        let content = try blocks.keys.sorted().map { index -> Anthropic.Block in
            switch blocks[index]! {
            case .text(let text): return .text(text)
            case .other(let type): return .other(type)
            case .toolUse(let id, let name, let json):
                let input: Value
                do {
                    input = json.isEmpty ? [:] : try JSONDecoder().decode(Value.self, from: Data(json.utf8))
                } catch {
                    throw Anthropic.APIError(status: 200, type: "invalid_response", message: "tool input for \(name) is not JSON")
                }
                return .toolUse(id: id, name: name, input: input)
            }
        }
        return Anthropic.Response(id: id, content: content, stopReason: stopReason, usage: usage)
    }

    /// Usage in `message_start` and `message_delta` is cumulative: the latest figure wins.
    private mutating func take(_ value: Any?) {
        guard let usage = value as? [String: Any] else { return }
        if let input = (usage["input_tokens"] as? NSNumber)?.intValue { self.usage.inputTokens = input }
        if let output = (usage["output_tokens"] as? NSNumber)?.intValue { self.usage.outputTokens = output }
    }
}
