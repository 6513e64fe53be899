import Logging

/// The provider revoked our access (Linear's app revoked, Slack's app uninstalled or tokens
/// revoked — both signed with the event's type): every connection to that account is marked
/// revoked and can no longer act. GitHub installations are confirmed first
/// (`GitHubInstallationHandler`).
struct RevocationHandler: WebhookHandler {
    let connections: ConnectionRepository
    let logger: Logger
    var lane: WebhookLane { .lifecycle }

    var handles: [WebhookEventKind] {
        [
            .linearOAuthAppRevoked, .slackAppUninstalled, .slackTokensRevoked,
        ]
    }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        let account: String
        switch event.payload {
        case .linearOAuthApp(let app): account = app.organizationId
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
