import HTTPTypes
import Hummingbird
import Shared

/// `GET /api/auth/oauth2/get-consents` and `POST /api/auth/oauth2/delete-consent`: the
/// console's "Connected apps" — the MCP clients a person authorized, and removing one.
struct ConnectedAppsRoutes: Sendable {
    let grants: OAuthGrantRepository
    let settings: OAuthServerSettings

    struct DeleteBody: Decodable {
        let id: String
    }

    func addRoutes(to api: RouterGroup<AuthRequestContext>, policies: AuthRoutePolicies) {
        let group = api.group("/oauth2").add(middleware: policies.limit.api).add(middleware: policies.session.required)
        /// The caller's connected apps, most recently authorized first.
        group.get("/get-consents") { _, context in
            let (session, _) = try context.requireSession()
            return try Response.json(try await grants.connectedApps(userId: session.userId))
        }
        /// Removes one of the caller's connected apps: its tokens stop working.
        group.post("/delete-consent") { request, context in
            let (session, _) = try context.requireSession()
            let body = try await JSONBody.decode(DeleteBody.self, from: request, context: context)
            guard
                try await grants.disconnect(
                    consentId: body.id, userId: session.userId, tokenLifetime: settings.revocationLifetime)
            else { throw AppError.notFound("NOT_FOUND", "No such connected app.") }
            return try Response.json(["success": true])
        }
    }
}
