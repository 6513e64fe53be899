import Logging

/// The provider revoked our access (an uninstall, revoked tokens, a deleted or suspended
/// installation): every connection to that account is marked revoked and can no longer act.
struct RevocationHandler: WebhookHandler {
    let connections: ConnectionRepository
    let logger: Logger
    var lane: WebhookLane { .lifecycle }

    var handles: [WebhookEventKind] {
        [
            .linearOAuthAppRevoked, .githubInstallationDeleted, .githubInstallationSuspend, .slackAppUninstalled,
            .slackTokensRevoked,
        ]
    }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        let account: String
        switch event.payload {
        case .linearOAuthApp(let app): account = app.organizationId
        case .githubInstallation(let installation): account = String(installation.installation.id)
        case .slack(let callback): account = callback.teamId
        case .malformed(let reason): throw MalformedWebhookEvent(description: reason)
        default: throw MalformedWebhookEvent(description: "\(event.kind) without its account")
        }
        let count = try await connections.setStatus(
            provider: event.kind.provider, accountId: account, .revoked, actor: "\(event.kind) webhook")
        logger.info(
            "provider revoked access",
            metadata: [
                "provider": "\(event.kind.provider.rawValue)", "account": "\(account)", "connections": "\(count)",
            ])
        return .done
    }
}
