/// What a stored delivery is: its provider and its type as the receiver recorded it (Slack's
/// inner `event.type`, Linear's `type.action`, GitHub's `event.action`). Handlers say which
/// kinds they take; the ones this service acts on are named here.
struct WebhookEventKind: Hashable, Sendable, CustomStringConvertible {
    let provider: ProviderID
    let type: String

    init(_ provider: ProviderID, _ type: String) {
        self.provider = provider
        self.type = type
    }

    var description: String { "\(provider.rawValue) \(type)" }

    static let slackAppMention = Self(.slack, "app_mention")
    static let slackMessage = Self(.slack, "message")
    static let slackTokensRevoked = Self(.slack, "tokens_revoked")
    static let slackAppUninstalled = Self(.slack, "app_uninstalled")
    /// A button clicked in a message the app posted (an approval's Approve or Deny).
    static let slackBlockActions = Self(.slack, "block_actions")
    static let linearAgentSessionCreated = Self(.linear, "AgentSessionEvent.created")
    static let linearAgentSessionPrompted = Self(.linear, "AgentSessionEvent.prompted")
    static let linearOAuthAppRevoked = Self(.linear, "OAuthApp.revoked")
    static let githubInstallationDeleted = Self(.github, "installation.deleted")
    static let githubInstallationSuspend = Self(.github, "installation.suspend")
    static let githubInstallationUnsuspend = Self(.github, "installation.unsuspend")
    static let githubAuthorizationRevoked = Self(.github, "github_app_authorization.revoked")

    /// Requests for the assistant.
    static let agentRequests: [Self] = [
        .slackAppMention, .slackMessage, .linearAgentSessionCreated, .linearAgentSessionPrompted,
    ]
}
