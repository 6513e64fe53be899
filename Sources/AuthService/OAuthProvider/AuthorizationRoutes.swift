import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// `GET|POST /api/auth/oauth2/authorize`, `POST /api/auth/oauth2/consent` and
/// `GET /api/auth/oauth2/public-client`: the browser's side of an MCP client's authorization.
struct AuthorizationRoutes: Sendable {
    let authorizer: Authorizer
    let clients: OAuthClientResolver
    let signedQuery: SignedOAuthQuery

    struct ConsentBody: Decodable {
        let accept: Bool
        let scope: String?
        let oauth_query: String?
    }

    struct Redirect: Encodable {
        var redirect = true
        let url: String
    }

    struct PublicClient: Encodable {
        let client_id: String
        let client_name: String?
        let client_uri: String?
        let logo_uri: String?
        let redirect_uris: [String] = []
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let open = api.group("/oauth2").add(middleware: policies.limit.api).add(middleware: policies.session.optional)
        /// Starts (or continues) an authorization; anyone's browser may call it.
        open.get("/authorize") { request, context in
            try await authorize(FormEncoding.pairs(request.uri.query ?? ""), request, context)
        }
        /// The same with a form body (RFC 6749 §3.1 allows POST).
        open.post("/authorize") { request, context in
            try await authorize(OAuthForm.read(request, context: context).pairs, request, context)
        }
        let signedIn = api.group("/oauth2").add(middleware: policies.limit.api).add(
            middleware: policies.session.required)
        /// The person's answer on the consent page; their session only, from a trusted origin.
        signedIn.post("/consent") { request, context in
            let (session, _) = try context.requireSession()
            let body = try await JSONBody.decode(ConsentBody.self, from: request, context: context)
            guard let query = body.oauth_query else { throw OAuthError.invalidRequest("missing oauth query") }
            guard let parameters = signedQuery.verify(query) else { throw OAuthError.invalidSignature }
            let url = try await authorizer.answerConsent(
                parameters, accept: body.accept, scope: body.scope, session: session)
            return try Response.json(Redirect(url: url), headers: [.cacheControl: "no-store"])
        }
        /// What the consent page shows of a client; signed-in people only.
        signedIn.get("/public-client") { request, context in
            guard let id = request.uri.queryParameters["client_id"].map(String.init), !id.isEmpty,
                let client = try await clients.client(id: id), !client.disabled
            else { throw OAuthError(status: .notFound, error: "not_found", errorDescription: "client not found") }
            return try Response.json(
                PublicClient(
                    client_id: client.clientId, client_name: client.name, client_uri: client.uri, logo_uri: client.icon)
            )
        }
    }

    private func authorize(_ parameters: [(String, String)], _ request: Request, _ context: AuthRequestContext)
        async throws -> Response
    {
        let url = try await authorizer.authorize(parameters, session: context.session)
        return Self.redirect(url, request: request)
    }

    /// A 302 for a navigation; `{redirect: true, url}` for a script (`Accept: application/json`
    /// or a CORS fetch), as Better Auth answers.
    static func redirect(_ url: String, request: Request) -> Response {
        let accept = request.headers[.accept]?.lowercased() ?? ""
        let fetchMode = request.headers[HTTPField.Name("Sec-Fetch-Mode")!]?.lowercased()
        if accept.contains("application/json") || fetchMode == "cors" {
            return (try? Response.json(Redirect(url: url), headers: [.cacheControl: "no-store"]))
                ?? Response(status: .internalServerError)
        }
        return Response(status: .found, headers: [.location: url, .cacheControl: "no-store"])
    }
}
