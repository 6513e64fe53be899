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

/// OAuth `state` in Redis: single-use and expiring after 10 minutes.
typealias OAuthStateStore = SingleUseStore<OAuthState>

extension SingleUseStore<OAuthState> {
    init(redis: RedisClient) { self.init(redis: redis, prefix: "oauth-state:") }
}
