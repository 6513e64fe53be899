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
    /// What answers requests for the assistant from Slack and Linear: the triggers that start
    /// runs, or, when the agent is not configured, a handler that records why nothing ran.
    let webhookHandlers: [any WebhookHandler]

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
        if let runner {
            self.webhookHandlers = [
                SlackAgentTrigger(runner: runner, runs: runs, connections: connections, tokens: tokens, http: providerHTTP, urls: apiURLs, logger: logger),
                LinearAgentTrigger(runner: runner, runs: runs, connections: connections, tokens: tokens, http: providerHTTP, urls: apiURLs, logger: logger),
            ]
        } else {
            self.webhookHandlers = [AgentOffHandler()]
        }
    }
}
