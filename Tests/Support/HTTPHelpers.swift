import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore

extension TestResponse {
    /// The body as text.
    public var text: String { String(buffer: body) }

    /// The body as a JSON object.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// `code` of an error body.
    public var errorCode: String? { json["code"] as? String }
}

extension HTTPField.Name {
    public static let testUser = Self("X-Test-User")!
}

extension ByteBuffer {
    public static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
}
