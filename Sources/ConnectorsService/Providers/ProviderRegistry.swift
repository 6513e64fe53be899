import Logging
import Shared

/// The configured providers by id. A provider whose variables are absent is not here, and its
/// routes answer 503 naming the variables that enable it.
struct ProviderRegistry: Sendable {
    let providers: [ProviderID: any ConnectionProvider]
    /// For each unconfigured provider, the variables that would enable it.
    let missing: [ProviderID: [String]]

    func provider(_ id: ProviderID) -> (any ConnectionProvider)? { providers[id] }
}

extension ProviderRegistry {
    /// Every provider whose variables are set.
    init(_ config: ConnectorsConfig, http: ProviderHTTP, logger: Logger) {
        var providers = [ProviderID: any ConnectionProvider]()
        var missing = [ProviderID: [String]]()
        let urls = config.common.providers
        if let linear = config.linear {
            providers[.linear] = LinearProvider(
                http: http, webURL: urls.linear, apiURL: urls.linearAPI, clientID: linear.id, clientSecret: linear.secret,
                actor: config.linearActor, logger: logger)
        } else {
            missing[.linear] = ["LINEAR_CLIENT_ID", "LINEAR_CLIENT_SECRET"]
        }
        missing[.github] = ["GITHUB_APP_NAME", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"]
        missing[.slack] = ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"]
        self.init(providers: providers, missing: missing)
    }
}
