import Logging

/// A suspended GitHub installation restored: its connections can mint tokens again.
struct InstallationUnsuspendHandler: WebhookHandler {
    let connections: ConnectionRepository
    let logger: Logger
    var lane: WebhookLane { .lifecycle }

    var handles: [WebhookEventKind] { [.githubInstallationUnsuspend] }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard case .githubInstallation(let installation) = event.payload else {
            throw MalformedWebhookEvent(description: "installation event without installation.id")
        }
        let count = try await connections.setStatus(
            provider: .github, accountId: String(installation.installation.id), .active, actor: "\(event.kind) webhook")
        logger.notice(
            "GitHub installation unsuspended; its connections are active again", metadata: ["connections": "\(count)"])
        return .done
    }
}
