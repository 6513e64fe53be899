import Foundation
import Shared

/// A session row, serialised as Better Auth's `get-session` does.
struct Session: Sendable, Equatable, Encodable {
    var id: String
    var token: String
    var userId: String
    var expiresAt: Date
    var createdAt: Date
    var updatedAt: Date
    var ipAddress: String?
    var userAgent: String?

    enum CodingKeys: String, CodingKey {
        case id, expiresAt, token, createdAt, updatedAt, ipAddress, userAgent, userId
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(JSTime.string(expiresAt), forKey: .expiresAt)
        try container.encode(token, forKey: .token)
        try container.encode(JSTime.string(createdAt), forKey: .createdAt)
        try container.encode(JSTime.string(updatedAt), forKey: .updatedAt)
        try container.encode(ipAddress, forKey: .ipAddress)
        try container.encode(userAgent, forKey: .userAgent)
        try container.encode(userId, forKey: .userId)
    }
}

/// Session lifetimes (Better Auth's defaults).
struct SessionPolicy: Sendable {
    /// A session lasts 7 days …
    var expiresIn: TimeInterval = 7 * 24 * 3600
    /// … and is extended when it was last extended more than a day ago.
    var updateAge: TimeInterval = 24 * 3600
    /// `rememberMe: false`: one day, never extended, and a browser-session cookie.
    var shortExpiresIn: TimeInterval = 24 * 3600

    /// How long a new session lasts.
    func lifetime(rememberMe: Bool) -> TimeInterval {
        rememberMe ? expiresIn : shortExpiresIn
    }

    /// True when `get-session` should push the expiry out again.
    func isDueForRefresh(_ session: Session, now: Date) -> Bool {
        session.expiresAt.timeIntervalSince(now) < expiresIn - updateAge
    }
}
