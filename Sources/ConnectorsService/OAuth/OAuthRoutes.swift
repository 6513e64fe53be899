import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import Shared

/// `GET /oauth/P`, `GET /oauth/P/callback` and `POST /oauth/P/link`.
struct OAuthRoutes: Sendable {
    let providers: ProviderRegistry
    let states: ConnectStates
    let links: PendingLinkRepository
    let linker: ConnectionLinker
    let sealer: TokenSealer
    /// Gives back a grant the callback obtained but could not store.
    let revoker: GrantRevoker
    let linkCodes: SignedToken
    let publicURL: String
    let logger: Logger

    struct Started: Encodable { let url: String; let state: String }
    struct LinkRequest: Decodable { let code: String }
    struct Linked: Encodable { let connection: ConnectionView }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // Starting (a JWT is optional, so a page can start by plain navigation) and the
        // provider's callback take anonymous callers, limited per IP; linking needs a JWT.
        let callback = router.group().add(middleware: policies.body.json).add(middleware: policies.limit.perIP)
        let start = callback.group().add(middleware: policies.auth.optional)
        let link = router.group().add(middleware: policies.body.json).add(middleware: policies.auth.required)
            .add(middleware: policies.limit.perUser)
        /// The provider's authorize URL with a fresh single-use state (and PKCE challenge), and
        /// the cookie that binds the flow to this browser.
        start.get("/oauth/:provider") { _, context in
            let provider = try configuredProvider(context)
            if let missing = provider.missingForNewConnections {
                throw AppError.serviceUnavailable(
                    "PROVIDER_NOT_CONFIGURED", "New \(provider.id.rawValue) connections need \(missing).")
            }
            try provider.checkMayConnect(context.user)
            let issued = try states.issue(provider: provider.id, userId: context.user?.id)
            let challenge =
                provider.usesPKCE ? Base64URL.encode(SHA256.hash(data: Array(issued.codeVerifier.utf8))) : nil
            let url = provider.authorizeURL(
                state: issued.state, codeChallenge: challenge, redirectURI: redirectURI(provider.id))
            return try Response.json(
                Started(url: url, state: issued.state),
                headers: [.cacheControl: "no-store", .setCookie: issued.cookie])
        }
        /// The provider sends the browser back here; it always ends in a 302 to the console.
        callback.get("/oauth/:provider/callback") { request, context in
            let provider = try configuredProvider(context)
            var response = await finish(
                provider, request: request,
                query: Dictionary(
                    request.uri.queryParameters.map { (String($0.key), String($0.value)) },
                    uniquingKeysWith: { first, _ in first }))
            // The nonce has done its work whatever the outcome.
            response.headers.append(HTTPField(name: .setCookie, value: states.clearingCookie(provider.id)))
            return response
        }
        /// Attaches the connection a callback prepared to the caller.
        link.post("/oauth/:provider/link") { request, context in
            let provider = try configuredProvider(context)
            let user = try context.requireUser()
            try provider.checkMayConnect(user)
            let body = try await JSONBody.decode(LinkRequest.self, from: request, context: context)
            guard linkCodes.isValid(body.code) else { throw invalidLinkCode }
            let fromThisBrowser = states.linkCodeIsFromThisBrowser(body.code, linkCodes, request: request)
            do {
                let stored = try await linker.link(
                    code: body.code, provider: provider.id, userId: user.id, fromThisBrowser: fromThisBrowser)
                var headers = HTTPFields()
                if fromThisBrowser {
                    headers[.setCookie] = states.linkCookie("", provider: provider.id, maxAge: 0)
                }
                return try Response.json(Linked(connection: ConnectionView(stored)), headers: headers)
            } catch PendingLinkRepository.ClaimError.notFound {
                throw invalidLinkCode
            } catch PendingLinkRepository.ClaimError.boundToAnotherUser {
                throw AppError.forbidden("LINK_BOUND_TO_ANOTHER_USER", "This connection was started by another user.")
            } catch PendingLinkRepository.ClaimError.finishedInAnotherBrowser {
                throw AppError.forbidden(
                    "LINK_FROM_ANOTHER_BROWSER", "This connection was finished in another browser; connect from here.")
            }
        }
    }

    private var invalidLinkCode: AppError {
        AppError.badRequest("INVALID_LINK_CODE", "The link code is unknown, used or expired.")
    }

    func redirectURI(_ provider: ProviderID) -> String { "\(publicURL)/oauth/\(provider.rawValue)/callback" }

    /// The fixed landing page; nothing from the request decides where the browser goes.
    func landing(_ provider: ProviderID, _ result: (name: String, value: String)) -> Response {
        let location =
            "\(publicURL)/connections?"
            + FormEncoding.encode([("provider", provider.rawValue), (result.name, result.value)])
        return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// Checks and consumes the state, exchanges the code, and parks the result under a link code.
    func finish(_ provider: any ConnectionProvider, request: Request, query: [String: String]) async -> Response {
        let redeemed: ConnectStates.Redeemed
        do {
            redeemed = try await states.redeem(query["state"] ?? "", provider: provider.id, request: request)
        } catch let refusal as ConnectStates.Refusal {
            logger.info(
                "OAuth callback refused", metadata: ["provider": "\(provider.id.rawValue)", "reason": "\(refusal)"])
            return landing(provider.id, ("error", "invalid_state"))
        } catch {
            logger.error("could not check an OAuth state", metadata: ["error": "\(error)"])
            return landing(provider.id, ("error", "server_error"))
        }
        let flow = redeemed.flow
        var obtained: ProviderGrant?
        do {
            let grant = try await provider.complete(
                query, codeVerifier: provider.usesPKCE ? redeemed.codeVerifier : nil,
                redirectURI: redirectURI(provider.id))
            obtained = grant
            let connectionId = RandomToken.string(length: 24)
            // A flow no user started is claimed in the browser that finished it (see `linkCode`).
            let code = flow.userId == nil ? states.linkCode(linkCodes, nonce: redeemed.nonce) : linkCodes.make()
            try await links.insert(
                PendingLink(
                    connectionId: connectionId, provider: provider.id, boundUserId: flow.userId,
                    accountId: grant.accountId, accountName: grant.accountName, identity: grant.identity,
                    scopes: grant.tokens.scopes,
                    accessToken: try sealer.seal(grant.tokens.accessToken, id: connectionId, provider: provider.id),
                    refreshToken: try sealer.seal(grant.tokens.refreshToken, id: connectionId, provider: provider.id),
                    expiresAt: grant.tokens.expiresAt), codeHash: SignedToken.digest(code))
            var landed = landing(provider.id, ("link", code))
            if flow.userId == nil {
                landed.headers.append(
                    HTTPField(
                        name: .setCookie,
                        value: states.linkCookie(redeemed.nonce, provider: provider.id, maxAge: Int(links.lifetime))))
            }
            return landed
        } catch let error as ProviderError {
            logger.warning(
                "OAuth callback failed", metadata: ["provider": "\(provider.id.rawValue)", "error": "\(error)"])
            return landing(provider.id, ("error", error.code))
        } catch {
            logger.error(
                "could not store an OAuth result",
                metadata: ["provider": "\(provider.id.rawValue)", "error": "\(error)"])
            // The provider granted access that nothing here will use: give it back.
            if let obtained {
                await revoker.revoke(
                    obtained.tokens.accessToken, provider: provider.id, accountId: obtained.accountId,
                    why: "the callback's result could not be stored")
            }
            return landing(provider.id, ("error", "server_error"))
        }
    }

    /// The provider named in the path: 404 when there is no such provider, 503 naming the
    /// variables that enable it when it is not configured.
    func configuredProvider(_ context: ConnectorsRequestContext) throws -> any ConnectionProvider {
        guard let id = ProviderID(rawValue: try context.parameters.require("provider")) else {
            throw AppError.notFound("PROVIDER_NOT_FOUND", "No such provider.")
        }
        guard let provider = providers.provider(id) else {
            throw AppError.serviceUnavailable(
                "PROVIDER_NOT_CONFIGURED",
                "\(id.rawValue) is not configured: set \(providers.missing[id] ?? "its variables").")
        }
        return provider
    }
}
