import Backends
import DB
import Hummingbird
import Logging
import Shared

/// Wires the auth service: PostgreSQL, Redis, the shared HTTP core and the feature routes.
/// Requests are handled on their connections' event loops (see `ThreadScheduling` for why
/// that pays off here), in tests as in production.
func buildApplication(_ config: AuthConfig, logger: Logger)
    -> some ApplicationProtocol
{
    let infrastructure = Infrastructure(config.common, logger: logger)
    let router = HTTPCore.router(
        context: AuthRequestContext.self, config: config.common, readiness: infrastructure.readiness)
    let signingKeys = SigningKeys(
        repository: SigningKeyRepository(
            postgres: infrastructure.postgres, vault: KeyVault(secret: config.betterAuthSecret), logger: logger),
        cachePeriod: config.jwksCachePeriod, logger: logger)
    let http = HTTPClientService()
    let routes = AuthRoutes(
        config: config, infrastructure: infrastructure, signingKeys: signingKeys, http: http, logger: logger)
    routes.register(on: router)
    let oauthClients = OAuthClientRepository(postgres: infrastructure.postgres, logger: logger)
    let maintenance = OAuthMaintenance.task(
        clients: oauthClients, grants: OAuthGrantRepository(postgres: infrastructure.postgres, logger: logger),
        settings: config.oauth, logger: logger)
    let expiredSessions = SessionRepository(postgres: infrastructure.postgres, logger: logger)
    let sessionSweep = PeriodicTask("expired-session cleanup", every: .seconds(86_400), logger: logger) {
        let removed = try await expiredSessions.deleteExpired()
        if removed > 0 { logger.info("deleted expired sessions", metadata: ["count": "\(removed)"]) }
    }
    return HTTPCore.application(
        router: router, config: config.common,
        services: infrastructure.services + [http, signingKeys, maintenance, sessionSweep],
        logger: logger,
        beforeServing: [
            { try await infrastructure.waitForPostgres(logger: logger) },
            { try await signingKeys.start() },
            { try await oauthClients.seed(resource: config.oauth.resource, name: "Connectors MCP") },
        ], requestsOnEventLoops: true)
}

/// Mounts every auth feature; each declares its limits and session policy from `AuthRoutePolicies`.
struct AuthRoutes: Sendable {
    let config: AuthConfig
    let infrastructure: Infrastructure
    let signingKeys: SigningKeys
    let http: HTTPClientService
    let logger: Logger

    func register(on router: Router<AuthRequestContext>) {
        let users = UserRepository(postgres: infrastructure.postgres, logger: logger)
        let sessions = SessionRepository(
            postgres: infrastructure.postgres, logger: logger, cache: SessionCache(ttl: config.sessionCacheTTL))
        let cookie = SessionCookie(
            secret: config.betterAuthSecret, secure: config.secureCookies, policy: config.sessions)
        let lockout = FailureLockout(
            name: "signin-fail", threshold: config.lockoutThreshold, window: config.lockoutWindow,
            redis: infrastructure.redis, logger: logger)
        let passwordLockout = FailureLockout(
            name: "change-password-fail", threshold: config.lockoutThreshold, window: config.lockoutWindow,
            redis: infrastructure.redis,
            logger: logger)
        let hasher = PasswordHasher(pool: HashingPool(limits: config.hashing))

        // Every /api/auth route: the JSON body cap and the CSRF origin check.
        let api = router.group("/api/auth")
            .add(middleware: BodyLimitMiddleware(BodyLimit.json, refusal: OAuthError.tooLargeUnderOAuth))
            .add(middleware: OriginCheckMiddleware(trustedOrigins: config.common.trustedOrigins))
        let policies = AuthRoutePolicies(
            config: config, limiter: infrastructure.rateLimiter, sessions: sessions, cookie: cookie)

        let issuer = JWTIssuer(keys: signingKeys, issuer: config.common.publicURL, lifetime: config.jwtLifetime)
        let oauth = OAuthServer(
            config: config, infrastructure: infrastructure, users: users, keys: signingKeys, logger: logger)
        EmailAuthRoutes(
            users: users, sessions: sessions, hasher: hasher, cookie: cookie,
            callbackPolicy: CallbackURLPolicy(trustedOrigins: config.common.trustedOrigins), lockout: lockout,
            oauthFlow: oauth.flow
        ).addRoutes(to: api, policies: policies)
        let github = config.github.map {
            GitHubClient(
                http: http.client, webURL: config.common.providers.github, apiURL: config.common.providers.githubAPI,
                clientID: $0.clientID, clientSecret: $0.clientSecret)
        }
        SocialSignInRoutes(
            github: github, users: users, sessions: sessions, cookie: cookie,
            states: OAuthStateStore(redis: infrastructure.redis),
            callbackPolicy: CallbackURLPolicy(trustedOrigins: config.common.trustedOrigins),
            publicURL: config.common.publicURL, logger: logger
        ).addRoutes(to: api, policies: policies)
        SessionRoutes(sessions: sessions, cookie: cookie, issuer: issuer).addRoutes(to: api, policies: policies)
        let tokens = TokenRoutes(sessions: sessions, cookie: cookie, issuer: issuer, keys: signingKeys)
        tokens.addRoutes(to: api, policies: policies)
        tokens.registerJWKS(on: router)
        if let console = ConsoleAssets.load(githubSignIn: config.github != nil) {
            ConsoleRoutes(console: console).register(on: router)
        } else {
            logger.warning("the web console's files are missing from the bundle; / answers 404")
        }
        AccountRoutes(users: users, sessions: sessions, hasher: hasher, cookie: cookie, lockout: passwordLockout)
            .addRoutes(to: api, policies: policies)
        oauth.addRoutes(to: api, router: router, policies: policies, limiter: infrastructure.rateLimiter)
    }
}
