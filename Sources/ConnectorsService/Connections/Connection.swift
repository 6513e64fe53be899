import Foundation
import Shared

/// A user's link to one provider account: metadata in the clear, tokens only sealed.
struct Connection: Sendable, Equatable {
    enum Status: String, Codable, Sendable {
        case active
        case reauthRequired = "reauth_required"
        case revoked
    }

    var id: String
    var userId: String
    var provider: ProviderID
    var accountId: String
    var accountName: String?
    /// Who the connection acts as at the provider; nil when the provider did not say (or the
    /// connection predates identities).
    var identity: ProviderIdentity? = nil
    var scopes: [String]
    var status: Status
    /// Sealed (`SecretBox`) — never serialised.
    var accessToken: String?
    var refreshToken: String?
    var expiresAt: Date?
    var createdAt: Date
    var updatedAt: Date
    /// Why the person must connect again, when they must.
    var statusReason: String? = nil

    /// The additional authenticated data its tokens are sealed under: a ciphertext copied to
    /// another row, or relabelled as another provider's, fails to open.
    static func sealingContext(id: String, provider: ProviderID) -> String { "connection:\(id):\(provider.rawValue)" }
    var sealingContext: String { Self.sealingContext(id: id, provider: provider) }
}

/// What the API returns about a connection: metadata, never a token.
struct ConnectionView: Encodable, Sendable {
    let id: String
    let provider: ProviderID
    let accountId: String
    let accountName: String?
    /// The connecting person's account at the provider (`providerUserId`, `providerUserName`).
    let providerUserId: String?
    let providerUserName: String?
    let scopes: [String]
    let status: Connection.Status
    let statusReason: String?
    let expiresAt: String?
    let createdAt: String
    let updatedAt: String

    init(_ connection: Connection) {
        self.id = connection.id
        self.provider = connection.provider
        self.accountId = connection.accountId
        self.accountName = connection.accountName
        self.providerUserId = connection.identity?.id
        self.providerUserName = connection.identity?.name
        self.scopes = connection.scopes
        self.status = connection.status
        self.statusReason = connection.statusReason
        self.expiresAt = connection.expiresAt.map(JSTime.string)
        self.createdAt = JSTime.string(connection.createdAt)
        self.updatedAt = JSTime.string(connection.updatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case id, provider, accountId, accountName, providerUserId, providerUserName, scopes, status, statusReason,
            expiresAt, createdAt, updatedAt
    }

    // Explicit so that absent values are `null`, as the spec's shape lists every field.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(provider, forKey: .provider)
        try container.encode(accountId, forKey: .accountId)
        try container.encode(accountName, forKey: .accountName)
        try container.encode(providerUserId, forKey: .providerUserId)
        try container.encode(providerUserName, forKey: .providerUserName)
        try container.encode(scopes, forKey: .scopes)
        try container.encode(status, forKey: .status)
        try container.encode(statusReason, forKey: .statusReason)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}
