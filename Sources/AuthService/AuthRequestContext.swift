import Hummingbird
import NIOCore
import Shared

/// The auth service's request context: the shared fields, and the caller's session and user
/// when `SessionMiddleware` found a valid one.
struct AuthRequestContext: ServiceRequestContext {
    var coreContext: CoreRequestContextStorage
    var requestID: String = ""
    var clientIP: String = ""
    let peerAddress: SocketAddress?
    var maxUploadSize: Int = BodyLimit.json
    var session: Session?
    var user: User?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress
    }

    /// The caller's session and user on a route behind the required session middleware.
    func requireSession() throws -> (Session, User) {
        guard let session, let user else { throw AppError.unauthorized("UNAUTHORIZED", "Unauthorized") }
        return (session, user)
    }
}
