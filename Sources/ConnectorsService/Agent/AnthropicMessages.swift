import MCP

/// The parts of the Anthropic Messages API (`POST /v1/messages`) the agent speaks. Unknown
/// block and event types are tolerated when decoding, since the API adds them over time.
enum Anthropic {
    struct Request: Encodable, Sendable {
        var model: String
        var maxTokens: Int
        var system: String?
        var messages: [Message]
        var tools: [ToolSpec]
        /// `none` lists `tools` without letting the model call any.
        var toolChoice: String? = nil
        var stream = false

        enum CodingKeys: String, CodingKey {
            case model, system, messages, tools, stream
            case maxTokens = "max_tokens"
            case toolChoice = "tool_choice"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(model, forKey: .model)
            try container.encode(maxTokens, forKey: .maxTokens)
            try container.encodeIfPresent(system, forKey: .system)
            try container.encode(messages, forKey: .messages)
            if !tools.isEmpty { try container.encode(tools, forKey: .tools) }
            if let toolChoice { try container.encode(["type": toolChoice], forKey: .toolChoice) }
            if stream { try container.encode(true, forKey: .stream) }
        }
    }

    struct ToolSpec: Encodable, Sendable {
        var name: String
        var description: String
        var inputSchema: Value

        enum CodingKeys: String, CodingKey {
            case name, description
            case inputSchema = "input_schema"
        }
    }

    struct Message: Codable, Sendable, Equatable {
        var role: String
        var content: [Block]
    }

    /// A content block. `other` keeps a block of a type this code does not know, so it is
    /// skipped when reading but never breaks decoding.
    enum Block: Codable, Sendable, Equatable {
        case text(String)
        case toolUse(id: String, name: String, input: Value)
        case toolResult(toolUseID: String, content: String, isError: Bool)
        case other(String)

        enum CodingKeys: String, CodingKey {
            case type, text, id, name, input, content
            case toolUseID = "tool_use_id"
            case isError = "is_error"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch try container.decode(String.self, forKey: .type) {
            case "text": self = .text(try container.decodeIfPresent(String.self, forKey: .text) ?? "")
            case "tool_use":
                self = .toolUse(
                    id: try container.decode(String.self, forKey: .id),
                    name: try container.decode(String.self, forKey: .name),
                    input: try container.decodeIfPresent(Value.self, forKey: .input) ?? [:])
            case "tool_result":
                self = .toolResult(
                    toolUseID: try container.decode(String.self, forKey: .toolUseID),
                    content: (try? container.decodeIfPresent(String.self, forKey: .content)) ?? "",
                    isError: try container.decodeIfPresent(Bool.self, forKey: .isError) ?? false)
            case let type: self = .other(type)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .text(let text):
                try container.encode("text", forKey: .type)
                try container.encode(text, forKey: .text)
            case .toolUse(let id, let name, let input):
                try container.encode("tool_use", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(name, forKey: .name)
                try container.encode(input, forKey: .input)
            case .toolResult(let id, let content, let isError):
                try container.encode("tool_result", forKey: .type)
                try container.encode(id, forKey: .toolUseID)
                try container.encode(content, forKey: .content)
                if isError { try container.encode(true, forKey: .isError) }
            case .other(let type):
                throw EncodingError.invalidValue(
                    type, .init(codingPath: encoder.codingPath, debugDescription: "cannot send back a \(type) block"))
            }
        }
    }

    struct Usage: Codable, Sendable, Equatable {
        var inputTokens = 0
        var outputTokens = 0

        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
        }

        init(inputTokens: Int = 0, outputTokens: Int = 0) {
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            inputTokens = try container.decodeIfPresent(Int.self, forKey: .inputTokens) ?? 0
            outputTokens = try container.decodeIfPresent(Int.self, forKey: .outputTokens) ?? 0
        }
    }

    /// A complete assistant message (as answered, or assembled from a stream).
    struct Response: Decodable, Sendable, Equatable {
        var id: String
        var content: [Block]
        var stopReason: String?
        var usage: Usage

        enum CodingKeys: String, CodingKey {
            case id, content, usage
            case stopReason = "stop_reason"
        }

        init(id: String, content: [Block], stopReason: String?, usage: Usage) {
            self.id = id
            self.content = content
            self.stopReason = stopReason
            self.usage = usage
        }

        var text: String {
            content.compactMap { if case .text(let text) = $0 { text } else { nil } }.joined()
        }

        var toolUses: [(id: String, name: String, input: Value)] {
            content.compactMap { if case .toolUse(let id, let name, let input) = $0 { (id, name, input) } else { nil } }
        }
    }

    /// `{"type": "error", "error": {"type": …, "message": …}}`, with the HTTP status (200 for an
    /// `error` event inside a stream).
    struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
        var status: Int
        var type: String
        var message: String
        /// Seconds from `retry-after`, when the API sent one.
        var retryAfter: Double?

        var description: String { "Anthropic API \(status) \(type): \(message)" }
    }
}
