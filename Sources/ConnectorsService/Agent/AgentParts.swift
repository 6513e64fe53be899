import Backends
import DB
import Logging
import NIOCore
import Shared

/// The agent's parts, built once from configuration: the tool registry (over the user's
/// connections and their refreshed tokens), the Anthropic client and the runner.
struct AgentParts: Sendable {
    let registry: ToolRegistry
    let runs: AgentRunRepository
    /// Nil when the agent is not configured.
    let runner: AgentRunner?
    /// What answers requests for the assistant from Slack and Linear: the triggers that start
    /// runs, or, when the agent is not configured, a handler that records why nothing ran.
    let webhookHandlers: [any WebhookHandler]

    /// `apis` are the provider API clients; `modelHTTP` serves the Messages API (longer silences allowed).
    init(
        config: ConnectorsConfig, infrastructure: Infrastructure, connections: ConnectionRepository,
        providers: ProviderRegistry,
        apis: ProviderAPIs, modelHTTP: HTTPClientService, logger: Logger
    ) {
        let tokens = ConnectionTokens(
            connections: connections, sealer: TokenSealer(box: config.secretBox), providers: providers,
            redis: infrastructure.redis, logger: logger)
        let registry = ToolRegistry(connections: connections, tokens: tokens, apis: apis, logger: logger)
        let runs = AgentRunRepository(postgres: infrastructure.postgres, logger: logger)
        self.registry = registry
        self.runs = runs
        let runner = config.anthropic.map { settings in
            AgentRunner(
                client: AnthropicClient(http: modelHTTP.client, settings: settings, logger: logger), registry: registry,
                runs: runs,
                logger: logger, timeout: config.agentTimeout)
        }
        self.runner = runner
        if let runner {
            self.webhookHandlers = [
                SlackAgentTrigger(
                    runner: runner, runs: runs, connections: connections, tokens: tokens, apis: apis,
                    connectURL: config.common.publicURL + "/connections", botUsers: config.slack.bot?.users,
                    logger: logger),
                LinearAgentTrigger(
                    runner: runner, runs: runs, connections: connections, tokens: tokens, apis: apis,
                    connectURL: config.common.publicURL + "/connections", logger: logger),
            ]
        } else {
            self.webhookHandlers = [AgentOffHandler()]
        }
    }
}
