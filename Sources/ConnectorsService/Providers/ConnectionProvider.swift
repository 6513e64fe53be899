import Foundation
import MCP
import Shared

/// What the OAuth routes and the token refresher need from one provider. Adding a provider
/// is one new file implementing this, and one line in `ProviderRegistry`.
protocol ConnectionProvider: Sendable {
    var id: ProviderID { get }

    /// The provider's authorize (or install) URL for a state and, when `usesPKCE`, an S256
    /// challenge.
    func authorizeURL(state: String, codeChallenge: String?, redirectURI: String) -> String
    var usesPKCE: Bool { get }
    /// Variables still needed before new connections can be made (existing ones keep working).
    var missingForNewConnections: String? { get }

    /// Turns the callback's query parameters into tokens and the account they belong to.
    func complete(_ callback: [String: String], codeVerifier: String?, redirectURI: String) async throws(ProviderError)
        -> ProviderGrant

    /// New tokens for an expiring connection: from its refresh token (OAuth providers), or
    /// minted afresh for its account (GitHub App installations, which have none).
    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens

    /// Revokes the token at the provider where it can; failures are logged, not thrown, since
    /// the user asked for the connection to be gone either way.
    func revoke(accessToken: String) async
    /// True when every connection to one provider account holds the same token (a Slack bot
    /// token belongs to the workspace's install): it is revoked only with the last of them.
    var tokenIsSharedByTheAccount: Bool { get }

    /// Refuses a caller who may not make new connections of this provider (the operator's
    /// single-workspace Slack bot is only for the users they name); nil is an anonymous caller.
    func checkMayConnect(_ user: AuthenticatedUser?) throws(AppError)
}

extension ConnectionProvider {
    var usesPKCE: Bool { false }
    var missingForNewConnections: String? { nil }
    var tokenIsSharedByTheAccount: Bool { false }
    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens {
        throw .refreshUnsupported
    }
    func revoke(accessToken: String) async {}
    func checkMayConnect(_ user: AuthenticatedUser?) throws(AppError) {}
}

/// Tokens from a code exchange or a refresh.
struct ProviderTokens: Sendable, Equatable {
    var accessToken: String
    var refreshToken: String?
    var expiresAt: Date?
    var scopes: [String]
}

/// A completed authorization: the tokens and the provider account they act as.
struct ProviderGrant: Sendable, Equatable {
    var tokens: ProviderTokens
    var accountId: String
    var accountName: String?
    /// Who connected, at the provider (when the provider says): what the agent acts as.
    var identity: ProviderIdentity? = nil
}

/// A person's own account at a provider, inside the connection's account (workspace, organization).
struct ProviderIdentity: Sendable, Equatable {
    var id: String
    var name: String?
}

/// Why a provider step failed, in the words the callback's `error` parameter uses.
enum ProviderError: Error, Equatable {
    /// The user declined, or the provider sent `error=…` to the callback.
    case denied(String)
    /// The callback lacks what the provider always sends (code, installation id…).
    case invalidCallback
    /// The provider refused the grant (`invalid_grant`): the user must connect again.
    case invalidGrant
    /// The provider refused the authorization code (wrong verifier, reused or expired code).
    case codeRejected
    /// The provider failed, timed out or answered something unreadable.
    case unavailable(String)
    case refreshUnsupported

    /// The `error` query value the callback redirect carries.
    var code: String {
        switch self {
        case .denied(let reason): reason == "access_denied" ? "access_denied" : "provider_error"
        case .invalidCallback: "invalid_callback"
        case .invalidGrant: "invalid_grant"
        case .unavailable, .codeRejected: "token_exchange_failed"
        case .refreshUnsupported: "refresh_unsupported"
        }
    }
}

/// Scopes as providers return them: a space- or comma-separated string, or an array.
enum ScopeList {
    static func parse(_ value: Value?) -> [String] {
        switch value {
        case .string(let string)?: parse(string)
        case .array(let array)?: array.flatMap { parse($0) }
        default: []
        }
    }

    static func parse(_ string: String) -> [String] {
        string.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
    }
}
