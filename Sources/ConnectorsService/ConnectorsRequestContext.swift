import Hummingbird
import NIOCore
import Shared

/// The connectors service's request context: the shared fields, and the caller a verified JWT
/// names (set by `JWTAuthMiddleware`).
struct ConnectorsRequestContext: AuthenticatedRequestContext {
    var coreContext: CoreRequestContextStorage
    var requestID: String = ""
    var clientIP: String = ""
    let peerAddress: SocketAddress?
    var maxUploadSize: Int = BodyLimit.json
    var user: AuthenticatedUser?
    /// On `/mcp`: what the caller's OAuth access token grants (client, scopes).
    var grant: ResourceGrant?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress
    }

    /// The verified caller on a route behind the required JWT middleware.
    func requireUser() throws -> AuthenticatedUser {
        guard let user else { throw AppError.unauthorized() }
        return user
    }
}
