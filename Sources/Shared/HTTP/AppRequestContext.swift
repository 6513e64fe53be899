import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// What the shared middleware needs from a request context. Each service may define its own
/// context (to carry a session or a user id) as long as it provides these.
public protocol ServiceRequestContext: RequestContext where Source == ApplicationRequestContextSource {
    /// `X-Request-Id` as accepted or generated.
    var requestID: String { get set }
    /// The client's address: the TCP peer, or `X-Forwarded-For` when the peer is a trusted proxy.
    var clientIP: String { get set }
    /// The TCP peer's address.
    var peerAddress: SocketAddress? { get }
    /// Body limit for this route group (set by `BodyLimitMiddleware`).
    var maxUploadSize: Int { get set }
}

/// The request context of routes that need nothing beyond the shared middleware.
public struct AppRequestContext: ServiceRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var clientIP: String = ""
    public let peerAddress: SocketAddress?
    /// Default body limit: the auth JSON limit; route groups with larger bodies raise it.
    public var maxUploadSize: Int = BodyLimit.json

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress
    }
}

/// The spec's body limits (section 3).
public enum BodyLimit {
    public static let json = 64 * 1024
    public static let webhook = 1024 * 1024
    public static let agent = 256 * 1024
}
