import Foundation
import MCP

/// MCP's `Value` read from JSON exactly as written: every string stays the string it was.
///
/// `Value`'s own decoding turns any string shaped like a data URL into bytes — and
/// `data:…,…` matches more than data URLs: a message reading "data: 3 rows, 2 columns" became
/// binary data, which encodes back as a different, base64 string, so a tool would hand the model
/// or an MCP client text that is not what Slack holds, and a tool input of that shape stopped
/// being a string at all. It also builds and compiles that regular expression anew for every
/// string it reads (7% of an agent run's CPU, and a real Slack thread holds thousands of
/// strings). Provider replies, Claude's tool inputs, stored approval inputs and MCP clients'
/// arguments are read through this instead: the same `Value` cases, numbers and booleans as
/// `Value` reads them, strings kept. The most common kinds are tried first, since each kind
/// tried and missed costs the decoder a thrown error.
struct ExactValue: Decodable, Sendable {
    let value: Value

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let string = try? container.decode(String.self) {
            value = .string(string)
        } else if let object = try? container.decode([String: ExactValue].self) {
            value = .object(object.mapValues(\.value))
        } else if let array = try? container.decode([ExactValue].self) {
            value = .array(array.map(\.value))
        } else if let bool = try? container.decode(Bool.self) {
            value = .bool(bool)
        } else if let int = try? container.decode(Int.self) {
            value = .int(int)
        } else {
            value = .double(try container.decode(Double.self))
        }
    }

    /// JSON text as a `Value`.
    static func decode(_ json: some DataProtocol) throws -> Value {
        try JSONDecoder().decode(ExactValue.self, from: Data(json)).value
    }

    /// JSON text holding an object, as its members; nil when it is not a JSON object.
    static func object(_ json: some DataProtocol) -> [String: Value]? {
        (try? JSONDecoder().decode([String: ExactValue].self, from: Data(json)))?.mapValues(\.value)
    }
}

/// Every `Value` a keyed container reads in this module — the synthesized `Decodable` of stored
/// runs' calls and steps among them — is read exactly too: these overloads are more specific
/// than the generic `decode(_:forKey:)` and win wherever `Value` is asked for by name.
extension KeyedDecodingContainer {
    func decode(_ type: Value.Type, forKey key: Key) throws -> Value {
        try decode(ExactValue.self, forKey: key).value
    }

    func decodeIfPresent(_ type: Value.Type, forKey key: Key) throws -> Value? {
        try decodeIfPresent(ExactValue.self, forKey: key)?.value
    }
}
