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

    /// One stream event, with the fields of every type we read (each type fills some).
    /// https://docs.anthropic.com/en/docs/build-with-claude/streaming
    struct StreamEvent: Decodable {
        struct Message: Decodable {
            let id: String?
            let usage: UsageFigures?
        }
        struct ContentBlock: Decodable {
            let type: String
            let text: String?
            let id: String?
            let name: String?
        }
        struct Delta: Decodable {
            let type: String?
            let text: String?
            let partial_json: String?
            let stop_reason: String?
        }
        struct UsageFigures: Decodable {
            let input_tokens: Int?
            let output_tokens: Int?
        }
        struct ErrorBody: Decodable {
            let type: String?
            let message: String?
        }

        let type: String?
        let message: Message?
        let index: Int?
        let content_block: ContentBlock?
        let delta: Delta?
        let usage: UsageFigures?
        let error: ErrorBody?
    }

    /// Applies one event; returns the text fragment it added, if any.
    mutating func apply(_ event: ServerSentEvent) throws -> String? {
        guard let object = try? JSONDecoder().decode(StreamEvent.self, from: Data(event.data.utf8)) else {
            if event.event == "ping" { return nil }
            throw Anthropic.APIError(
                status: 200, type: "invalid_response", message: "unreadable stream event \(event.event ?? "")")
        }
        switch object.type ?? event.event {
        case "message_start":
            id = object.message?.id ?? ""
            take(object.message?.usage)
        case "content_block_start":
            guard let index = object.index, let block = object.content_block else { return nil }
            switch block.type {
            case "text": blocks[index] = .text(block.text ?? "")
            case "tool_use": blocks[index] = .toolUse(id: block.id ?? "", name: block.name ?? "", json: "")
            case let type: blocks[index] = .other(type)
            }
        case "content_block_delta":
            guard let index = object.index, let delta = object.delta else { return nil }
            switch (blocks[index], delta.type) {
            case (.text(let text), "text_delta"):
                let fragment = delta.text ?? ""
                blocks[index] = .text(text + fragment)
                return fragment.isEmpty ? nil : fragment
            case (.toolUse(let id, let name, let json), "input_json_delta"):
                blocks[index] = .toolUse(id: id, name: name, json: json + (delta.partial_json ?? ""))
            default: break
            }
        case "message_delta":
            if let reason = object.delta?.stop_reason { stopReason = reason }
            take(object.usage)
        case "message_stop":
            stopped = true
        case "error":
            throw Anthropic.APIError(
                status: 200, type: object.error?.type ?? "error", message: object.error?.message ?? "stream error")
        default:
            break
        }
        return nil
    }

    /// The message, once `message_stop` has arrived.
    func finish() throws -> Anthropic.Response {
        guard stopped else {
            throw Anthropic.APIError(
                status: 200, type: "incomplete_stream", message: "the stream ended before message_stop")
        }
        let content = try blocks.keys.sorted().compactMap { index -> Anthropic.Block? in
            switch blocks[index]! {
            case .text(let text): return .text(text)
            case .other(let type): return .other(type)
            case .toolUse(let id, let name, let json):
                let input: Value
                do {
                    input = json.isEmpty ? [:] : try ExactValue.decode(Data(json.utf8))
                } catch {
                    // Cut off by `max_tokens` while writing a call's input: the call was never
                    // made whole, and the turn ends at the limit as it does without streaming.
                    if stopReason == "max_tokens" { return nil }
                    throw Anthropic.APIError(
                        status: 200, type: "invalid_response", message: "tool input for \(name) is not JSON")
                }
                return .toolUse(id: id, name: name, input: input)
            }
        }
        return Anthropic.Response(id: id, content: content, stopReason: stopReason, usage: usage)
    }

    /// Usage in `message_start` and `message_delta` is cumulative: the latest figure wins.
    private mutating func take(_ figures: StreamEvent.UsageFigures?) {
        if let input = figures?.input_tokens { usage.inputTokens = input }
        if let output = figures?.output_tokens { usage.outputTokens = output }
    }
}
