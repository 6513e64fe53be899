/// An OAuth client id and secret, both set or both absent.
public struct OAuthClientCredentials: Sendable {
    public let id: String
    public let secret: String

    public init?(_ env: ConfigValues, id idName: String, secret secretName: String) throws(ConfigurationError) {
        switch (env.string(idName), env.string(secretName, isSecret: true)) {
        case (let id?, let secret?): self.id = id; self.secret = secret
        case (nil, nil): return nil
        case (nil, _): throw ConfigurationError(idName, "is required when \(secretName) is set")
        case (_, nil): throw ConfigurationError(secretName, "is required when \(idName) is set")
        }
    }
}
