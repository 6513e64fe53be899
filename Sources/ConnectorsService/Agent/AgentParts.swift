import Backends
import DB
import Logging
import NIOCore
import Shared

/// The agent's parts, built once from configuration: the tool registry (over the user's
/// connections and their refreshed tokens), policies, approvals, the Anthropic client, the
/// runner and the resumer that continues paused runs.
struct AgentParts: Sendable {
    let registry: ToolRegistry
    let runs: AgentRunRepository
    let approvals: ApprovalRepository
    let policies: ToolPolicyRepository
    let decisions: ApprovalDecisions
    let events: RunEvents
    /// Nil when the agent is not configured.
    let runner: AgentRunner?
    let resumer: AgentResumer?
    /// What answers requests for the assistant from Slack and Linear: the triggers that start
    /// runs (and take Slack's button clicks), or, when the agent is not configured, a handler
    /// that records why nothing ran.
    let webhookHandlers: [any WebhookHandler]

    /// `apis` are the provider API clients; `modelHTTP` serves the Messages API (longer silences allowed).
    init(
        config: ConnectorsConfig, infrastructure: Infrastructure, connections: ConnectionRepository,
        providers: ProviderRegistry, audit: AuditTrail,
        apis: ProviderAPIs, modelHTTP: HTTPClientService, logger: Logger
    ) {
        let postgres = infrastructure.postgres
        let tokens = ConnectionTokens(
            connections: connections, sealer: TokenSealer(box: config.secretBox), providers: providers,
            redis: infrastructure.redis, logger: logger)
        let registry = ToolRegistry(connections: connections, tokens: tokens, apis: apis, audit: audit, logger: logger)
        let runs = AgentRunRepository(postgres: postgres, logger: logger)
        let approvals = ApprovalRepository(postgres: postgres, logger: logger)
        let policies = ToolPolicyRepository(postgres: postgres, audit: audit, logger: logger)
        let events = RunEvents()
        let replies = RunReplies(connections: connections, tokens: tokens, apis: apis, runs: runs, logger: logger)
        self.registry = registry
        self.runs = runs
        self.approvals = approvals
        self.policies = policies
        self.events = events
        let runner = config.anthropic.map { settings in
            AgentRunner(
                client: AnthropicClient(http: modelHTTP.client, settings: settings, logger: logger), registry: registry,
                runs: runs, approvals: approvals, policies: policies, logger: logger, timeout: config.agentTimeout,
                shutdownGrace: config.agentShutdownGrace, limits: config.agentLimits,
                approvalTimeout: config.approvalTimeout)
        }
        self.runner = runner
        let resumer = runner.map { runner in
            AgentResumer(
                runner: runner, replies: replies, events: events, audit: audit, settings: config.resumer,
                logger: logger)
        }
        self.resumer = resumer
        let decisions = ApprovalDecisions(approvals: approvals, audit: audit, wake: { resumer?.wake() })
        self.decisions = decisions
        if let runner {
            let connectURL = config.common.publicURL + "/connections"
            self.webhookHandlers = [
                SlackAgentTrigger(
                    runner: runner, runs: runs, replies: replies, connections: connections, tokens: tokens,
                    apis: apis, connectURL: connectURL, botUsers: config.slack.bot?.users, logger: logger),
                LinearAgentTrigger(
                    runner: runner, runs: runs, replies: replies, decisions: decisions, connections: connections,
                    tokens: tokens, apis: apis, connectURL: connectURL, logger: logger),
                SlackApprovalHandler(
                    approvals: approvals, runs: runs, decisions: decisions, apis: apis,
                    slackAPI: config.common.providers.slackAPI, logger: logger),
            ]
        } else {
            self.webhookHandlers = [AgentOffHandler()]
        }
    }
}
