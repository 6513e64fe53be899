import Foundation
import MCP
import Shared

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

/// What a tool may use: the provider API clients and the caller's own access token.
struct ToolAccess: Sendable {
    let apis: ProviderAPIs
    let token: String
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
            case .double(let value) where value.rounded() == value: Int(value)
            case .string(let text): Int(text)
            default: nil
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
}

extension Value {
    /// An object with only `keys` (for what a tool hands the model); other values as they are.
    func picking(_ keys: [String]) -> Value {
        guard let object = objectValue else { return self }
        return .object(object.filter { keys.contains($0.key) })
    }

    /// The value at a path of object keys.
    subscript(path: String...) -> Value? {
        var current: Value? = self
        for key in path { current = current?.objectValue?[key] }
        return current
    }
}
