import HTTPTypes
import Hummingbird
import Logging
import Shared

/// `GET /oauth/connections` and `DELETE /oauth/connections/:id` (JWT).
struct ConnectionRoutes: Sendable {
    let connections: ConnectionRepository
    let revoker: GrantRevoker

    struct ConnectionList: Encodable { let connections: [ConnectionView] }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // The list counts the per-user limit itself, in the same Redis round trip as its cache
        // validator; the rest behind the limit's middleware.
        let list = router.group().add(middleware: policies.body.json).add(middleware: policies.auth.required)
        let manage = list.group().add(middleware: policies.limit.perUser)
        let userLimit = policies.limit.perUserRule
        /// The caller's connections: metadata only, never a token. Polled by every console page,
        /// so served from `ConnectionListCache` while unchanged.
        list.get("/oauth/connections") { _, context in
            let user = try context.requireUser()
            let (decision, validator) = await connections.listCache.check(userLimit, userId: user.id)
            try RateLimitMiddleware<ConnectorsRequestContext>.enforce(decision)
            let body = try await connections.listCache.body(userId: user.id, validator: validator) {
                try Response.jsonBody(
                    ConnectionList(connections: try await connections.list(userId: user.id).map(ConnectionView.init)))
            }
            return Response.json(
                encoded: body, headers: RateLimitMiddleware<ConnectorsRequestContext>.headers(decision))
        }
        /// Revokes one of the caller's connections at the provider (where it can) and deletes it.
        manage.delete("/oauth/connections/:id") { _, context in
            let user = try context.requireUser()
            let id = try context.parameters.require("id")
            guard let deleted = try await connections.delete(id: id, userId: user.id) else {
                throw AppError.notFound("CONNECTION_NOT_FOUND", "No such connection.")
            }
            await revoker.revoke(
                sealed: deleted.accessToken, id: deleted.id, provider: deleted.provider, accountId: deleted.accountId,
                why: "connection deleted")
            return Response(status: .noContent)
        }
    }
}
