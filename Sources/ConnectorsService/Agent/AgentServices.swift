import DB
import Logging
import NIOCore
import Shared

/// The agent's parts, built once from configuration: the tool registry (over the user's
/// connections and their refreshed tokens), the Anthropic client and the runner.
struct AgentServices: Sendable {
    let registry: ToolRegistry
    let runs: AgentRunRepository
    /// Nil when the agent is not configured.
    let runner: AgentRunner?
    /// Runs started by Slack and Linear events; nil when the agent is not configured.
    let triggers: AgentTriggers?

    /// `http` serves the provider APIs; `modelHTTP` the Messages API (longer silences allowed).
    init(config: ConnectorsConfig, infrastructure: Infrastructure, connections: ConnectionRepository, providers: ProviderRegistry,
         http: HTTPClientService, modelHTTP: HTTPClientService, logger: Logger) {
        let tokens = ConnectionTokens(
            connections: connections, sealer: TokenSealer(box: config.secretBox), providers: providers, redis: infrastructure.redis, logger: logger)
        let urls = config.common.providers
        let providerHTTP = ProviderHTTP(client: http.client, timeout: .milliseconds(config.providerTimeout.wholeMilliseconds))
        let apiURLs = ProviderAPIURLs(linear: urls.linearAPI, github: urls.githubAPI, slack: urls.slackAPI)
        let registry = ToolRegistry(connections: connections, tokens: tokens, http: providerHTTP, urls: apiURLs, logger: logger)
        let runs = AgentRunRepository(postgres: infrastructure.postgres, logger: logger)
        self.registry = registry
        self.runs = runs
        let runner = config.anthropic.map { settings in
            AgentRunner(client: AnthropicClient(http: modelHTTP.client, settings: settings, logger: logger), registry: registry, runs: runs,
                        logger: logger, timeout: config.agentTimeout)
        }
        self.runner = runner
        self.triggers = runner.map {
            AgentTriggers(runner: $0, runs: runs, connections: connections, tokens: tokens, http: providerHTTP, urls: apiURLs, logger: logger)
        }
    }
}
