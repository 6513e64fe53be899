import Foundation
import MCP

/// One thing the assistant can do in a provider, offered to Claude (and over MCP) by name with a
/// JSON-schema input. `run` acts with the caller's own token and answers JSON text; a provider
/// error is thrown as `ToolFailure` and reaches the model as an `is_error` result.
struct AgentTool: Sendable {
    let name: String
    let provider: ProviderID
    let description: String
    let inputSchema: Value
    let run: @Sendable (ToolInput, ToolAccess) async throws -> String
}

/// What a tool may use: the provider's HTTP client, the base URLs and the access token.
struct ToolAccess: Sendable {
    let http: ProviderHTTP
    let urls: ProviderAPIURLs
    let token: String
}

/// The API base URLs tools call (`LINEAR_API_URL`, `GITHUB_API_URL`, `SLACK_API_URL`).
struct ProviderAPIURLs: Sendable {
    var linear: String
    var github: String
    var slack: String
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
        guard let value = optionalString(name), !value.isEmpty else { throw ToolFailure("`\(name)` is required (a non-empty string).") }
        return value
    }

    func optionalString(_ name: String) -> String? {
        values[name]?.stringValue
    }

    func int(_ name: String, default fallback: Int? = nil, range: ClosedRange<Int> = 1...1_000_000) throws -> Int {
        let number: Int? = switch values[name] {
        case .int(let value): value
        case .double(let value) where value.rounded() == value: Int(value)
        case .string(let text): Int(text)
        default: nil
        }
        guard let value = number ?? fallback else { throw ToolFailure("`\(name)` is required (an integer).") }
        guard range.contains(value) else { throw ToolFailure("`\(name)` must be between \(range.lowerBound) and \(range.upperBound).") }
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
    static func text(_ object: Any) -> String {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "\(object)" }
        return String(decoding: data, as: UTF8.self)
    }
}
