import HTTPTypes
import Backends
import Hummingbird
import Logging
import Shared

/// The OAuth 2.1 authorization server for MCP clients, assembled: its parts built once and its
/// routes mounted (under `/api/auth/oauth2` and the two metadata documents).
struct OAuthServer: Sendable {
    let settings: OAuthServerSettings
    let clients: OAuthClientRepository
    let resolver: OAuthClientResolver
    let grants: OAuthGrantRepository
    let authorizer: Authorizer
    let tokens: TokenService
    let signedQuery: SignedOAuthQuery
    let users: UserRepository
    let keys: SigningKeys
    /// What a sign-in uses to resume an authorization in progress.
    let flow: OAuthFlow

    init(config: AuthConfig, infrastructure: Infrastructure, users: UserRepository, keys: SigningKeys, logger: Logger) {
        settings = config.oauth
        clients = OAuthClientRepository(postgres: infrastructure.postgres, logger: logger)
        resolver = OAuthClientResolver(
            repository: clients,
            documents: ClientMetadataDocuments(
                settings: settings.documents, repository: clients, resource: settings.resource, logger: logger))
        grants = OAuthGrantRepository(postgres: infrastructure.postgres, logger: logger)
        signedQuery = SignedOAuthQuery(secret: config.betterAuthSecret, lifetime: settings.codeLifetime)
        authorizer = Authorizer(settings: settings, clients: resolver, grants: grants, signedQuery: signedQuery)
        tokens = TokenService(
            settings: settings, grants: grants, users: users, keys: keys, secret: config.betterAuthSecret,
            logger: logger)
        self.users = users
        self.keys = keys
        flow = OAuthFlow(signedQuery: signedQuery, authorizer: authorizer)
    }

    func addRoutes(
        to api: RouterGroup<AuthRequestContext>, router: Router<AuthRequestContext>, policies: AuthRoutePolicies,
        limiter: RateLimiter
    ) {
        AuthorizationRoutes(authorizer: authorizer, clients: resolver, signedQuery: signedQuery)
            .addRoutes(to: api, policies: policies)
        TokenEndpointRoutes(
            tokens: tokens, authenticator: ClientAuthenticator(clients: resolver), grants: grants, keys: keys,
            users: users, settings: settings
        ).addRoutes(to: api, policies: policies)
        RegistrationRoutes(
            clients: clients, settings: settings,
            limiter: RateLimitMiddleware(limiter, rule: settings.registrationLimit)
        ).addRoutes(to: api)
        ConnectedAppsRoutes(grants: grants, settings: settings).addRoutes(to: api, policies: policies)
        ServerMetadataRoutes(settings: settings).register(on: router, clientMetadataDocuments: true)
    }
}

/// A sign-in (or sign-up) whose body carries `oauth_query` continues the authorization it
/// interrupted: the answer's `url` is the consent page, or the client with a code.
struct OAuthFlow: Sendable {
    let signedQuery: SignedOAuthQuery
    let authorizer: Authorizer

    /// The authorization request in `oauthQuery`; nil without one; an error when the signature
    /// is bad or expired (checked before any credential is).
    func parameters(_ oauthQuery: String?) throws -> [(String, String)]? {
        guard let oauthQuery else { return nil }
        guard let parameters = signedQuery.verify(oauthQuery) else { throw OAuthError.invalidSignature }
        return parameters
    }

    /// Where the browser goes now that `session` exists (a fresh sign-in satisfies `prompt=login`).
    func next(_ parameters: [(String, String)], session: Session) async throws -> String {
        let prompt = OAuthScope.parse(parameters.first { $0.0 == "prompt" }?.1).filter { $0 != "login" }
        var resumed = parameters.filter { $0.0 != "prompt" }
        if !prompt.isEmpty { resumed.append(("prompt", prompt.joined(separator: " "))) }
        return try await authorizer.authorize(resumed, session: session)
    }
}
