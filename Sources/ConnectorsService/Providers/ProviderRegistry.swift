import Logging
import Shared

/// The configured providers by id. A provider whose variables are absent is not here, and its
/// routes answer 503 naming the variables that enable it.
struct ProviderRegistry: Sendable {
    let providers: [ProviderID: any ConnectionProvider]
    /// For each unconfigured provider, the variables that would enable it.
    let missing: [ProviderID: String]

    func provider(_ id: ProviderID) -> (any ConnectionProvider)? { providers[id] }
}

extension ProviderRegistry {
    /// Every provider whose variables are set.
    init(_ config: ConnectorsConfig, http: ProviderHTTP, apis: ProviderAPIs, logger: Logger) {
        var providers = [ProviderID: any ConnectionProvider]()
        var missing = [ProviderID: String]()
        let urls = config.common.providers
        if let linear = config.linear.oauth {
            providers[.linear] = LinearProvider(
                http: http, api: apis.linear, webURL: urls.linear, apiURL: urls.linearAPI, clientID: linear.id,
                clientSecret: linear.secret,
                actor: config.linear.actor, logger: logger)
        } else {
            missing[.linear] = "LINEAR_CLIENT_ID and LINEAR_CLIENT_SECRET"
        }
        if let app = config.github.app {
            providers[.github] = GitHubAppProvider(
                http: http, api: apis.github, webURL: urls.github, apiURL: urls.githubAPI, appName: app.name,
                appJWT: GitHubAppJWT(appID: app.appID, privateKey: app.privateKey), oauth: app.oauth, logger: logger)
        } else {
            missing[.github] = "GITHUB_APP_NAME, GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"
        }
        let slackMode: SlackProvider.Mode? =
            if let bot = config.slack.bot {
                .singleWorkspace(botToken: bot.token, allowedEmails: bot.users)
            } else if let slack = config.slack.oauth { .oauth(clientID: slack.id, clientSecret: slack.secret) } else {
                nil
            }
        if let slackMode {
            // Slack's install page is on the site whose Web API is at `/api`.
            let web = urls.slackAPI.hasSuffix("/api") ? String(urls.slackAPI.dropLast(4)) : urls.slackAPI
            providers[.slack] = SlackProvider(api: apis.slack, webURL: web, mode: slackMode, logger: logger)
        } else {
            missing[.slack] = "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, or SLACK_BOT_TOKEN"
        }
        self.init(providers: providers, missing: missing)
    }
}
