import Logging

/// GitHub `installation` events (`deleted`, `suspend`, `unsuspend`): the installation's state is
/// confirmed with GitHub before any connection changes (`GitHubInstallations`). An event GitHub
/// contradicts — a replayed body under a forged `X-GitHub-Event` — is recorded `skipped`.
struct GitHubInstallationHandler: WebhookHandler {
    let installations: GitHubInstallations
    var lane: WebhookLane { .lifecycle }

    var handles: [WebhookEventKind] {
        [.githubInstallationDeleted, .githubInstallationSuspend, .githubInstallationUnsuspend]
    }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard case .githubInstallation(let payload) = event.payload else {
            throw MalformedWebhookEvent(description: "installation event without installation.id")
        }
        let installation = String(payload.installation.id)
        let state = try await installations.sync(installation, actor: "\(event.kind) webhook")
        let claimed: GitHubAppProvider.InstallationState =
            switch event.kind {
            case .githubInstallationDeleted: .gone
            case .githubInstallationSuspend: .suspended
            default: .live
            }
        return state == claimed
            ? .done : .skipped("GitHub says installation \(installation) is \(state.rawValue); not as the event claims")
    }
}
