import Foundation
import Shared

/// A user, as Better Auth serialises it.
struct User: Sendable, Equatable, Encodable {
    var id: String
    var name: String
    var email: String
    var emailVerified: Bool
    var image: String?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, email, emailVerified, image, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(email, forKey: .email)
        try container.encode(emailVerified, forKey: .emailVerified)
        // Better Auth sends `image: null` rather than omitting it.
        try container.encode(image, forKey: .image)
        try container.encode(JSTime.string(createdAt), forKey: .createdAt)
        try container.encode(JSTime.string(updatedAt), forKey: .updatedAt)
    }
}

/// Ids and session tokens as Better Auth generates them: 32 alphanumeric characters.
enum AuthID {
    static func make() -> String { RandomToken.string(length: 32) }
}
