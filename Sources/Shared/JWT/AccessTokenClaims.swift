import Foundation
import JWTKit

/// The claims of the auth service's RS256 access tokens. Every check is made by
/// `JWTVerifier` (which knows the expected issuer and the clock), not here.
public struct AccessTokenClaims: JWTPayload, Equatable {
    public var sub: String?
    public var email: String?
    public var name: String?
    public var emailVerified: Bool?
    public var iss: String?
    /// A string or an array of strings (RFC 7519 §4.1.3).
    public var aud: AudienceClaim?
    public var exp: Int64?
    public var nbf: Int64?
    public var iat: Int64?
    /// OAuth access tokens (RFC 9068) also name the client, the granted scopes and the grant.
    public var client_id: String?
    public var scope: String?
    public var sid: String?

    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What an OAuth access token for a resource grants: which client acts, with which scopes,
/// under which authorization (`sid`), issued when.
public struct ResourceGrant: Sendable, Equatable {
    public let clientId: String
    public let scopes: Set<String>
    public let grantId: String
    public let issuedAt: Int64

    public init(clientId: String, scopes: Set<String>, grantId: String, issuedAt: Int64) {
        self.clientId = clientId
        self.scopes = scopes
        self.grantId = grantId
        self.issuedAt = issuedAt
    }
}

/// The caller a valid access token names.
public struct AuthenticatedUser: Sendable, Equatable {
    public let id: String
    public let email: String?
    public let name: String?
    /// Whether the auth service had verified `email` when it signed the token.
    public let emailVerified: Bool

    public init(id: String, email: String?, name: String?, emailVerified: Bool = false) {
        self.id = id
        self.email = email
        self.name = name
        self.emailVerified = emailVerified
    }
}
