import DB
import Hummingbird
import Logging
import Shared

/// Wires the connectors service: PostgreSQL, Redis, the provider HTTP client, the JWKS cache,
/// the shared HTTP core and the feature routes. The service handles requests on their event
/// loops; in-process tests turn that off, because there one process's two event loops also
/// carry every fake provider and every other test running in parallel (the child-process
/// tests run the service binary as deployed).
func buildApplication(_ config: ConnectorsConfig, logger: Logger, requestsOnEventLoops: Bool = true) -> some ApplicationProtocol {
    let infrastructure = Infrastructure(config.common, logger: logger)
    let http = HTTPClientService()
    let jwks = JWKSCache(url: config.jwksURL, http: http.client, logger: logger)
    let verifier = JWTVerifier(keys: jwks, issuer: config.common.publicURL)
    let router = HTTPCore.router(context: ConnectorsRequestContext.self, config: config.common, readiness: infrastructure.readiness)
    let providerHTTP = ProviderHTTP(client: http.client, timeout: .milliseconds(config.providerTimeout.wholeMilliseconds))
    let apis = ProviderAPIs(http: providerHTTP, urls: config.common.providers)
    let providers = ProviderRegistry(config, http: providerHTTP, apis: apis, logger: logger)
    let connections = ConnectionRepository(
        postgres: infrastructure.postgres,
        listCache: ConnectionListCache(
            redis: infrastructure.redis, limiter: infrastructure.rateLimiter, logger: logger, maxAge: config.connectionListCacheAge),
        logger: logger)
    // The Messages API answers a non-streamed call only when the whole message is written.
    let modelHTTP = HTTPClientService(readTimeout: .minutes(10))
    let agent = AgentServices(
        config: config, infrastructure: infrastructure, connections: connections, providers: providers, apis: apis, modelHTTP: modelHTTP,
        logger: logger)
    ConnectorsRoutes(config: config, infrastructure: infrastructure, verifier: verifier, connections: connections, providers: providers, agent: agent, logger: logger)
        .register(on: router)
    let sweeper = PendingLinkSweeper(links: PendingLinkRepository(postgres: infrastructure.postgres, logger: logger), logger: logger)
    let handlers = WebhookHandlers([
        RevocationHandler(connections: connections, logger: logger),
        InstallationUnsuspendHandler(connections: connections, logger: logger),
    ] + agent.webhookHandlers)
    let worker = WebhookWorker(
        queue: WebhookQueue(postgres: infrastructure.postgres, logger: logger), handlers: handlers, settings: config.webhookWorker, logger: logger)
    // Started in this order, stopped in reverse: the worker stops (finishing its event) before
    // PostgreSQL, and the JWKS cache before the client it uses.
    return HTTPCore.application(
        router: router, config: config.common, services: infrastructure.services + [http, modelHTTP, jwks, sweeper, worker], logger: logger,
        requestsOnEventLoops: requestsOnEventLoops)
}

/// Every feature route, with its body limit, authentication and rate limit.
struct ConnectorsRoutes: Sendable {
    let config: ConnectorsConfig
    let infrastructure: Infrastructure
    let verifier: JWTVerifier
    let connections: ConnectionRepository
    let providers: ProviderRegistry
    let agent: AgentServices
    let logger: Logger

    func register(on router: Router<ConnectorsRequestContext>) {
        let sealer = TokenSealer(box: config.secretBox)
        let limited = router.group().add(middleware: BodyLimitMiddleware<ConnectorsRequestContext>(BodyLimit.json))
        /// A limit counted per signed-in user.
        func perUser(_ rule: RateLimitRule) -> RateLimitMiddleware<ConnectorsRequestContext> {
            RateLimitMiddleware(infrastructure.rateLimiter, rule: rule, key: { _, context in context.user?.id ?? context.clientIP })
        }

        // Routes for signed-in users: a valid JWT, then 100 requests per 10 s per user.
        let authenticated = limited.group()
            .add(middleware: JWTAuthMiddleware<ConnectorsRequestContext>(verifier))
            .add(middleware: perUser(config.userLimit))
        // Starting a connection (a JWT is optional) and the provider's callback: per IP.
        let anonymous = limited.group()
            .add(middleware: RateLimitMiddleware<ConnectorsRequestContext>(infrastructure.rateLimiter, rule: config.ipLimit))
        let optionalUser = anonymous.group().add(middleware: JWTAuthMiddleware<ConnectorsRequestContext>(verifier, optional: true))

        // Webhooks: no user and no rate limit (senders retry), a 1 MiB body cap, and the
        // signature checked over the raw bytes before anything else.
        let webhooks = router.group().add(middleware: BodyLimitMiddleware<ConnectorsRequestContext>(BodyLimit.webhook))
        WebhookRoutes(
            slack: SlackSignature(secret: config.slackSigningSecret), linear: LinearSignature(secret: config.linearWebhookSecret),
            github: GitHubSignature(secret: config.githubWebhookSecret),
            events: GroupCommit(write: WebhookEventRepository(postgres: infrastructure.postgres, logger: logger).insert), logger: logger
        ).register(on: webhooks)

        ConnectionRoutes(connections: connections, sealer: sealer, providers: providers, userLimit: config.userLimit)
            .register(list: limited.group().add(middleware: JWTAuthMiddleware<ConnectorsRequestContext>(verifier)), manage: authenticated)
        // Agent runs: a 256 KiB body, the user limit and 10 runs per minute per user.
        let agentRuns = router.group().add(middleware: BodyLimitMiddleware<ConnectorsRequestContext>(BodyLimit.agent))
            .add(middleware: JWTAuthMiddleware<ConnectorsRequestContext>(verifier))
            .add(middleware: perUser(config.userLimit))
            .add(middleware: perUser(config.agentLimit))
        AgentRoutes(runner: agent.runner, runs: agent.runs).register(run: agentRuns, read: authenticated)
        // MCP: the same tools over MCP, for the same JWT; a 401 names the resource metadata.
        let mcp = MCPRoutes(registry: agent.registry, publicURL: config.common.publicURL, trustedOrigins: config.common.trustedOrigins, logger: logger)
        let mcpGroup = router.group().add(middleware: BodyLimitMiddleware<ConnectorsRequestContext>(BodyLimit.agent))
            .add(middleware: JWTAuthMiddleware<ConnectorsRequestContext>(verifier, resourceMetadata: mcp.metadataURL))
            .add(middleware: perUser(config.userLimit))
        mcp.register(mcp: mcpGroup, open: router)
        OAuthRoutes(
            providers: providers,
            flows: SingleUseStore(redis: infrastructure.redis, prefix: "connect-state:"),
            links: PendingLinkRepository(postgres: infrastructure.postgres, logger: logger),
            linker: ConnectionLinker(
                links: PendingLinkRepository(postgres: infrastructure.postgres, logger: logger), listCache: connections.listCache, sealer: sealer,
                logger: logger),
            sealer: sealer,
            stateTokens: SignedToken(secret: config.jwtSecret, purpose: "oauth-state"),
            linkCodes: SignedToken(secret: config.jwtSecret, purpose: "link-code"),
            publicURL: config.common.publicURL, logger: logger
        ).register(start: optionalUser, callback: anonymous, link: authenticated)
    }
}
