import Foundation
import MCP
import Shared

/// One thing the assistant can do in a provider, offered to Claude (and over MCP) by name with a
/// JSON-schema input. `run` acts with the caller's own token and answers JSON text; a provider
/// error is thrown as `ToolFailure` and reaches the model as an `is_error` result.
struct AgentTool: Sendable {
    let name: String
    /// A short human name (MCP `title`).
    let title: String
    let provider: ProviderID
    let kind: ToolKind
    let description: String
    let inputSchema: Value
    let run: @Sendable (ToolInput, ToolAccess) async throws -> String
    /// The shape of the JSON the tool answers, when it answers JSON (MCP's `outputSchema`).
    var result: ResultShape? = nil

    var risk: ToolRisk { kind == .read ? .read : .write }

    /// The same tool, declaring the shape of its JSON answer.
    func returning(_ shape: ResultShape) -> AgentTool {
        var tool = self
        tool.result = shape
        return tool
    }
}

/// The shape of a tool's JSON answer, as much of it as clients may rely on (providers add more
/// fields, and every object here allows them).
indirect enum ResultShape: Sendable {
    case string, integer, boolean
    case object([String: ResultShape])
    case list(of: ResultShape)
    case optional(ResultShape)

    /// As JSON Schema.
    var schema: Value {
        switch self {
        case .string: ["type": "string"]
        case .integer: ["type": "integer"]
        case .boolean: ["type": "boolean"]
        case .object(let properties):
            ["type": "object", "properties": .object(properties.mapValues(\.schema))]
        case .list(let element): ["type": "array", "items": element.schema]
        case .optional(let shape): ["anyOf": [shape.schema, ["type": "null"]]]
        }
    }

    /// MCP wants an object: the answer is `{"result": …}` there.
    var mcpOutputSchema: Value {
        ["type": "object", "properties": ["result": schema], "required": ["result"]]
    }
}

/// Whether a tool only reads or changes something in the provider: what an MCP grant's scope
/// (`connectors:read`, `connectors:write`) must cover.
enum ToolRisk: String, Sendable {
    case read, write
}

/// What a tool does, in the terms of MCP's tool annotations.
enum ToolKind: Sendable {
    /// Reads only.
    case read
    /// Adds something new (an issue, a comment, a message); doing it twice adds two.
    case create
    /// Changes something that exists; the same call again changes nothing more.
    case update

    /// `readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`: every tool reaches
    /// a provider's world beyond this service.
    var hints: (readOnly: Bool, destructive: Bool, idempotent: Bool, openWorld: Bool) {
        switch self {
        case .read: (true, false, true, true)
        case .create: (false, false, false, true)
        case .update: (false, true, true, true)
        }
    }
}

/// What a tool may use: the provider API clients and the caller's own access token.
struct ToolAccess: Sendable {
    let apis: ProviderAPIs
    let token: String
    /// The connection's account at the provider (GitHub: the installation id).
    var account: String = ""
    /// Who made the connection, at the provider (a Slack user id): whose rights a shared token
    /// must be narrowed to.
    var actor: String? = nil
}

/// One client per provider API, built once and shared by providers, tools and triggers.
struct ProviderAPIs: Sendable {
    let slack: SlackAPI
    let linear: LinearAPI
    let github: GitHubAPI

    init(http: ProviderHTTP, urls: ProviderURLs) {
        self.slack = SlackAPI(http: http, baseURL: urls.slackAPI)
        self.linear = LinearAPI(http: http, baseURL: urls.linearAPI)
        self.github = GitHubAPI(http: http, baseURL: urls.githubAPI)
    }
}

/// A tool's failure, in words the model (and the user reading the run) can act on.
struct ToolFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A tool call's arguments, with typed reads that fail with a message naming the argument.
struct ToolInput: Sendable {
    let values: [String: Value]

    init(_ value: Value) {
        self.values = value.objectValue ?? [:]
    }

    func string(_ name: String) throws -> String {
        guard let value = optionalString(name), !value.isEmpty else {
            throw ToolFailure("`\(name)` is required (a non-empty string).")
        }
        return value
    }

    func optionalString(_ name: String) -> String? {
        values[name]?.stringValue
    }

    func int(_ name: String, default fallback: Int? = nil, range: ClosedRange<Int> = 1...1_000_000) throws -> Int {
        let number: Int? =
            switch values[name] {
            case .int(let value): value
            // `Int(exactly:)`: a whole number past Int's range (1e300) is refused, not a trap.
            case .double(let value): Int(exactly: value)
            case .string(let text): Int(text)
            default: nil
            }
        if number == nil, let given = values[name], given != .null {
            // Given but not a whole number in range (1e300, 2.5, "ten"): refused, not defaulted.
            throw ToolFailure("`\(name)` must be an integer.")
        }
        guard let value = number ?? fallback else { throw ToolFailure("`\(name)` is required (an integer).") }
        guard range.contains(value) else {
            throw ToolFailure("`\(name)` must be between \(range.lowerBound) and \(range.upperBound).")
        }
        return value
    }
}

/// JSON-schema helpers for tool inputs.
enum Schema {
    static func object(_ properties: [String: Value], required: [String] = []) -> Value {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }

    static func string(_ description: String) -> Value { ["type": "string", "description": .string(description)] }
    static func integer(_ description: String) -> Value { ["type": "integer", "description": .string(description)] }
}

/// Tool answers as compact JSON text.
enum ToolJSON {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func text(_ value: Value) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// `text` (a tool's answer) cut to `limit` characters. JSON stays JSON: its long strings are
    /// shortened, each keeping its start and saying how much was cut, until it fits, so a result
    /// with a schema still matches it (an issue with a long body is still that issue). Only when
    /// that is not enough (too many items) is the text itself cut, which the MCP endpoint answers
    /// by asking for fewer items.
    static func fitted(_ text: String, limit: Int) -> String {
        guard text.count > limit else { return text }
        if let value = try? ExactValue.decode(Data(text.utf8)) {
            var cap = 4_000
            while cap >= 100 {
                let shortened = self.text(value.shorteningStrings(to: cap))
                if shortened.count <= limit { return shortened }
                cap /= 2
            }
        }
        return String(text.prefix(limit)) + "\n…[truncated: \(text.count) characters in all]"
    }
}

extension Value {
    /// An object with only `keys` (for what a tool hands the model); other values as they are.
    func picking(_ keys: [String]) -> Value {
        guard let object = objectValue else { return self }
        return .object(object.filter { keys.contains($0.key) })
    }

    /// Every string longer than `limit` characters cut to it, marked with how much was cut.
    func shorteningStrings(to limit: Int) -> Value {
        switch self {
        case .string(let text) where text.count > limit:
            .string(String(text.prefix(limit)) + "… [\(text.count - limit) more characters]")
        case .array(let items): .array(items.map { $0.shorteningStrings(to: limit) })
        case .object(let fields): .object(fields.mapValues { $0.shorteningStrings(to: limit) })
        default: self
        }
    }

    /// The value at a path of object keys.
    subscript(path: String...) -> Value? {
        var current: Value? = self
        for key in path { current = current?.objectValue?[key] }
        return current
    }
}
