import Backends
import DB
import Hummingbird
import Logging
import NIOPosix
import ServiceLifecycle
import Shared

/// Wires the connectors service: PostgreSQL, Redis, the provider HTTP client, the JWKS cache,
/// the shared HTTP core and the feature routes. Requests are handled on their connections'
/// event loops (`EventLoopTaskExecutor`), in tests as in production.
func buildApplication(_ config: ConnectorsConfig, logger: Logger)
    -> some ApplicationProtocol
{
    let infrastructure = Infrastructure(config.common, logger: logger)
    let http = HTTPClientService()
    let jwks = JWKSCache(url: config.jwksURL, http: http.client, logger: logger)
    let verifier = JWTVerifier(keys: jwks, issuer: config.common.publicURL)
    let router = HTTPCore.router(
        context: ConnectorsRequestContext.self, config: config.common, readiness: infrastructure.readiness)
    let providerHTTP = ProviderHTTP(
        client: http.client, timeout: .milliseconds(config.providerTimeout.wholeMilliseconds))
    let apis = ProviderAPIs(http: providerHTTP, urls: config.common.providers)
    let providers = ProviderRegistry(config, http: providerHTTP, apis: apis, logger: logger)
    let audit = AuditTrail(postgres: infrastructure.postgres, logger: logger)
    let connections = ConnectionRepository(
        postgres: infrastructure.postgres,
        listCache: ConnectionListCache(
            redis: infrastructure.redis, limiter: infrastructure.rateLimiter, logger: logger,
            maxAge: config.connectionListCacheAge),
        audit: audit, logger: logger)
    // The Messages API answers a non-streamed call only when the whole message is written.
    let modelHTTP = HTTPClientService(readTimeout: .minutes(10))
    let agent = AgentParts(
        config: config, infrastructure: infrastructure, connections: connections, providers: providers,
        audit: audit, apis: apis, modelHTTP: modelHTTP, logger: logger)
    // Gives back provider grants nothing here will use (deleted, unstorable, unclaimed).
    let revoker = GrantRevoker(
        providers: providers, postgres: infrastructure.postgres, sealer: TokenSealer(box: config.secretBox),
        logger: logger)
    let revocations = GrantRevocations(
        postgres: infrastructure.postgres, interval: config.revocationPoll, logger: logger)
    // Without the GitHub App nothing can confirm an installation event: none is acted on.
    let installations = (providers.provider(.github) as? GitHubAppProvider).map {
        GitHubInstallations(github: $0, connections: connections, postgres: infrastructure.postgres, logger: logger)
    }
    let handlers = WebhookHandlers(
        [RevocationHandler(connections: connections, logger: logger)]
            + (installations.map { [GitHubInstallationHandler(installations: $0)] } ?? [])
            + [GitHubAuthorizationHandler(connections: connections, tokens: agent.registry.tokens, github: apis.github)]
            + agent.webhookHandlers)
    ConnectorsRoutes(
        config: config, infrastructure: infrastructure, verifier: verifier, connections: connections,
        providers: providers, agent: agent, audit: audit, revocations: revocations, revoker: revoker,
        webhookHandlers: handlers,
        logger: logger
    )
    .register(on: router)
    var upkeep: [any Service] = [
        Upkeep.pendingLinks(
            PendingLinkRepository(postgres: infrastructure.postgres, logger: logger), revoker: revoker, logger: logger),
        Upkeep.auditRetention(audit, days: config.auditRetentionDays, logger: logger),
        Upkeep.retention(
            webhooks: WebhookEventRepository(postgres: infrastructure.postgres, logger: logger), runs: agent.runs,
            settings: config.retention, logger: logger),
    ]
    if let installations {
        upkeep.append(Upkeep.gitHubInstallations(installations, redis: infrastructure.redis, logger: logger))
    }
    let queue = WebhookQueue(postgres: infrastructure.postgres, logger: logger)
    let worker = WebhookWorker(queue: queue, handlers: handlers, settings: config.webhookWorker, logger: logger)
    // The same policy, with few slots: lifecycle handlers are quick.
    var lifecycleSettings = config.webhookWorker
    lifecycleSettings.concurrency = 4
    let lifecycleWorker = WebhookWorker(
        queue: queue, handlers: handlers, settings: lifecycleSettings, lane: .lifecycle, logger: logger)
    // Started in this order, stopped in reverse: the worker stops (finishing its event) before
    // PostgreSQL, and the JWKS cache before the client it uses.
    return HTTPCore.application(
        router: router, config: config.common,
        services: infrastructure.services + [http, modelHTTP, jwks, worker, lifecycleWorker, revocations] + upkeep
            + (agent.resumer.map { [$0] } ?? [any Service]()), logger: logger,
        requestsOnEventLoops: true)
}

/// Mounts every feature's routes; each declares its own protections from `RoutePolicies`.
struct ConnectorsRoutes: Sendable {
    let config: ConnectorsConfig
    let infrastructure: Infrastructure
    let verifier: JWTVerifier
    let connections: ConnectionRepository
    let providers: ProviderRegistry
    let agent: AgentParts
    let audit: AuditTrail
    let revocations: GrantRevocations
    let revoker: GrantRevoker
    let webhookHandlers: WebhookHandlers
    let logger: Logger

    func register(on router: Router<ConnectorsRequestContext>) {
        let policies = RoutePolicies(config: config, verifier: verifier, limiter: infrastructure.rateLimiter)
        let sealer = revoker.sealer
        let links = PendingLinkRepository(postgres: infrastructure.postgres, logger: logger)
        WebhookRoutes(
            slack: SlackSignature(secret: config.slack.signingSecret),
            linear: LinearSignature(secret: config.linear.webhookSecret),
            github: GitHubSignature(secret: config.github.webhookSecret),
            handlers: webhookHandlers, intake: WebhookIntake(budget: config.webhookInflightBytes),
            events: GroupCommit(
                // On an event loop: the writer's awaits on PostgreSQL resume there, and no
                // cooperative-pool thread is woken for each batch.
                executor: EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next()),
                write: WebhookEventRepository(postgres: infrastructure.postgres, logger: logger).insert),
            failures: FailureLockout(
                name: config.webhookFailureName, threshold: config.webhookFailureThreshold, window: .seconds(600),
                redis: infrastructure.redis, logger: logger), logger: logger
        ).addRoutes(to: router, policies: policies)
        ConnectionRoutes(connections: connections, revoker: revoker).addRoutes(to: router, policies: policies)
        AgentRoutes(
            runner: agent.runner, runs: agent.runs, events: agent.events, limits: config.agentLimits,
            longestWait: config.approvalTimeout + config.agentTimeout + .seconds(60)
        ).addRoutes(to: router, policies: policies)
        ApprovalRoutes(approvals: agent.approvals, decisions: agent.decisions).addRoutes(to: router, policies: policies)
        PolicyRoutes(policies: agent.policies).addRoutes(to: router, policies: policies)
        AuditRoutes(audit: audit).addRoutes(to: router, policies: policies)
        MCPRoutes(
            registry: agent.registry, toolPolicies: agent.policies, revocations: revocations,
            publicURL: config.common.publicURL,
            trustedOrigins: config.common.trustedOrigins,
            logger: logger
        )
        .addRoutes(to: router, policies: policies)
        OAuthRoutes(
            providers: providers,
            states: ConnectStates(
                secret: config.jwtSecret, redis: infrastructure.redis,
                secureCookies: config.common.secureCookies),
            links: links,
            linker: ConnectionLinker(links: links, connections: connections, sealer: sealer, logger: logger),
            sealer: sealer, revoker: revoker,
            linkCodes: SignedToken(secret: config.jwtSecret, purpose: "link-code"),
            publicURL: config.common.publicURL, logger: logger
        ).addRoutes(to: router, policies: policies)
    }
}
