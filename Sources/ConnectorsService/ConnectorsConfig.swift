import Shared

/// The connectors service's configuration, validated at start-up.
struct ConnectorsConfig: Sendable {
    var common: CommonConfig
    /// Signs OAuth state and one-time link codes.
    var jwtSecret: String
    /// Seals provider tokens at rest; previous keys still open older values.
    var secretBox: SecretBox
    var jwksURL: String
    /// The Linear OAuth app (`LINEAR_CLIENT_ID`, `LINEAR_CLIENT_SECRET`); nil when not configured.
    var linear: OAuthClientCredentials?
    /// `LINEAR_ACTOR=app`: Linear actions appear as the application, not the user.
    var linearActor: String?
    /// Ordinary JWT routes: 100 requests per 10 seconds per user.
    var userLimit = RateLimitRule(name: "connectors-user", limit: 100, window: .seconds(10))
    /// Routes without a user (OAuth start and callback): 100 requests per 10 seconds per IP.
    var ipLimit = RateLimitRule(name: "connectors-ip", limit: 100, window: .seconds(10))

    init(_ env: Environment) throws(ConfigurationError) {
        self.common = try CommonConfig(env, portVariable: "CONNECTORS_PORT", defaultPort: 5002)
        self.jwtSecret = try env.secret("JWT_SECRET", minLength: 32, hint: "generate one with `openssl rand -base64 32`")
        if let authSecret = env.string("BETTER_AUTH_SECRET"), authSecret == jwtSecret {
            throw ConfigurationError("JWT_SECRET", "must differ from BETTER_AUTH_SECRET")
        }
        let keyHint = "32 characters, or base64 of 32 bytes (`openssl rand -base64 32`)"
        let current: SecretBox.Key
        do {
            current = try SecretBox.Key(configured: env.required("ENCRYPTION_KEY", hint: keyHint))
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("ENCRYPTION_KEY", "must be \(keyHint)")
        }
        var previous = [SecretBox.Key]()
        for (index, value) in env.list("ENCRYPTION_KEY_PREVIOUS").enumerated() {
            guard let key = try? SecretBox.Key(configured: value) else {
                throw ConfigurationError("ENCRYPTION_KEY_PREVIOUS", "entry \(index + 1) must be \(keyHint)")
            }
            previous.append(key)
        }
        self.secretBox = SecretBox(current: current, previous: previous)
        self.jwksURL = try env.httpURL("AUTH_JWKS_URL", default: "http://localhost:5001/.well-known/jwks.json")
        self.linear = try OAuthClientCredentials(env, id: "LINEAR_CLIENT_ID", secret: "LINEAR_CLIENT_SECRET")
        self.linearActor = env.string("LINEAR_ACTOR")
        if let actor = linearActor, actor != "app", actor != "user" {
            throw ConfigurationError("LINEAR_ACTOR", "must be app or user")
        }
    }
}

