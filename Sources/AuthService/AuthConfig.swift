import Shared

/// The auth service's configuration, validated at start-up.
struct AuthConfig: Sendable {
    var common: CommonConfig
    /// Signs session cookies and OAuth state; derives the key that encrypts JWKS private keys.
    var betterAuthSecret: String

    init(_ env: Environment) throws(ConfigurationError) {
        self.common = try CommonConfig(env, portVariable: "AUTH_PORT", defaultPort: 5001)
        self.betterAuthSecret = try env.secret(
            "BETTER_AUTH_SECRET", minLength: 32, hint: "generate one with `openssl rand -base64 32`")
    }
}
