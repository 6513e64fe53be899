import HTTPTypes
import Hummingbird
import Logging
import Shared

/// `GET /oauth/connections` and `DELETE /oauth/connections/:id` (JWT).
struct ConnectionRoutes: Sendable {
    let connections: ConnectionRepository
    let sealer: TokenSealer
    let providers: ProviderRegistry

    struct ConnectionList: Encodable { let connections: [ConnectionView] }

    func register(on group: RouterGroup<ConnectorsRequestContext>) {
        /// The caller's connections: metadata only, never a token.
        group.get("/oauth/connections") { _, context in
            let user = try context.requireUser()
            let list = try await connections.list(userId: user.id)
            return try Response.json(ConnectionList(connections: list.map(ConnectionView.init)))
        }
        /// Revokes one of the caller's connections at the provider (where it can) and deletes it.
        group.delete("/oauth/connections/:id") { _, context in
            let user = try context.requireUser()
            let id = try context.parameters.require("id")
            guard let deleted = try await connections.delete(id: id, userId: user.id) else {
                throw AppError.notFound("CONNECTION_NOT_FOUND", "No such connection.")
            }
            if let provider = providers.provider(deleted.provider) {
                do {
                    if let token = try sealer.open(deleted.accessToken, id: deleted.id, provider: deleted.provider) {
                        await provider.revoke(accessToken: token)
                    }
                } catch {
                    context.logger.warning("could not open a deleted connection's token to revoke it", metadata: ["connection": "\(deleted.id)"])
                }
            }
            return Response(status: .noContent)
        }
    }
}
