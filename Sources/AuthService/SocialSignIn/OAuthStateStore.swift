import Foundation
import Shared

/// What a sign-in started with, kept server-side under its `state` for 10 minutes.
struct OAuthState: Codable, Sendable {
    var codeVerifier: String
    var callbackURL: String?
    var errorCallbackURL: String?
    var newUserCallbackURL: String?
    /// SHA-256 of the nonce in the browser's state cookie: the callback must come from the
    /// browser that started the flow.
    var browserBinding: String
}

/// OAuth `state` in Redis: single-use (`GETDEL`) and expiring after 10 minutes.
struct OAuthStateStore: Sendable {
    let redis: RedisClient
    var lifetime = 600

    func save(_ state: OAuthState, key: String) async throws {
        let value = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try await redis.send(["SET", "oauth-state:" + key, value, "EX", String(lifetime), "NX"])
    }

    /// Returns and deletes the state in one step, so a replayed callback finds nothing.
    func consume(_ key: String) async throws -> OAuthState? {
        guard key.count <= 128, let text = try await redis.send(["GETDEL", "oauth-state:" + key]).string else { return nil }
        return try? JSONDecoder().decode(OAuthState.self, from: Data(text.utf8))
    }
}
