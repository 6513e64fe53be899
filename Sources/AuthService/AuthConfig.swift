import Foundation
import Shared

/// The auth service's configuration, validated at start-up.
struct AuthConfig: Sendable {
    var common: CommonConfig
    /// Signs session cookies and OAuth state; derives the key that encrypts JWKS private keys.
    var betterAuthSecret: String
    var sessions = SessionPolicy()
    /// Sign-in and sign-up: 10 per minute per IP.
    var signInLimit = RateLimitRule(name: "auth-sign-in", limit: 10, window: .seconds(60))
    /// `change-password`: as sign-in, counted on its own.
    var changePasswordLimit = RateLimitRule(name: "auth-change-password", limit: 10, window: .seconds(60))
    /// Every other auth route: 100 per 10 seconds per IP.
    var apiLimit = RateLimitRule(name: "auth-api", limit: 100, window: .seconds(10))
    /// Failed sign-ins for one email from one IP before that pair is locked out for the window;
    /// the same for wrong current passwords given to `change-password` for one user.
    var lockoutThreshold = 10
    var lockoutWindow: Duration = .seconds(15 * 60)
    /// Password hashes allowed to wait for a hashing thread (`PASSWORD_HASH_QUEUE_LIMIT`, default
    /// 64), and how long one may wait (`PASSWORD_HASH_MAX_WAIT_SECONDS`, default 10) before
    /// 503 `TOO_BUSY`.
    var hashing = HashingPool.Limits()
    /// JWTs live 15 minutes; the JWKS may be cached 5 minutes (and a new key waits that long).
    var jwtLifetime: TimeInterval = 15 * 60
    var jwksCachePeriod: TimeInterval = 300
    /// How long a replica may serve a session it read from the database without reading it
    /// again (`SESSION_CACHE_SECONDS`, default 5, 0 = off): how late other replicas see a revocation.
    var sessionCacheTTL: TimeInterval = 5

    /// The OAuth 2.1 authorization server for MCP clients.
    var oauth: OAuthServerSettings

    /// "Sign in with GitHub", when `GITHUB_CLIENT_ID` and `GITHUB_CLIENT_SECRET` are set.
    var github: (clientID: String, clientSecret: String)?

    init(_ env: ConfigValues) throws(ConfigurationError) {
        self.common = try CommonConfig(env, portVariable: "AUTH_PORT", defaultPort: 5001)
        self.betterAuthSecret = try env.secret(
            "BETTER_AUTH_SECRET", minLength: 32, hint: "generate one with `openssl rand -base64 32`")
        self.sessionCacheTTL = TimeInterval(try env.int("SESSION_CACHE_SECONDS", default: 5, range: 0...300))
        self.hashing.maxWaiting = try env.int("PASSWORD_HASH_QUEUE_LIMIT", default: 64, range: 1...100_000)
        self.hashing.maxWait = .seconds(try env.int("PASSWORD_HASH_MAX_WAIT_SECONDS", default: 10, range: 1...600))
        self.oauth = try OAuthServerSettings(env, issuer: common.publicURL)
        self.github = try OAuthClientCredentials(env, id: "GITHUB_CLIENT_ID", secret: "GITHUB_CLIENT_SECRET").map {
            ($0.id, $0.secret)
        }
    }

    var secureCookies: Bool { common.secureCookies }
}
