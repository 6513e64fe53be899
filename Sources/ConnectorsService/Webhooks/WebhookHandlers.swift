import Logging

/// What handling an event came to.
enum WebhookOutcome: Equatable, Sendable {
    case done
    /// Recorded as `skipped` with the reason — stored, seen, deliberately not acted on.
    case skipped(String)
}

/// Routes stored events by provider and type. Handlers are idempotent: the worker delivers at
/// least once.
struct WebhookHandlers: Sendable {
    typealias Handler = @Sendable (WebhookEvent) async throws -> WebhookOutcome

    let connections: ConnectionRepository
    let logger: Logger
    /// Handlers by `"provider eventType"`, consulted before the built-in ones (later features
    /// register here; tests use it for handlers that fail on purpose).
    var registered: [String: Handler] = [:]

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        if let handler = registered["\(event.provider.rawValue) \(event.eventType)"] { return try await handler(event) }
        switch (event.provider, event.eventType) {
        // The provider revoked our access: the connection can no longer act.
        case (.linear, "OAuthApp.revoked"):
            guard let organization = event.payload["organizationId"] as? String else { throw Malformed(description: "OAuthApp event without organizationId") }
            return try await revoke(.linear, account: organization)
        case (.github, "installation.deleted"), (.github, "installation.suspend"):
            guard let installation = (event.payload["installation"] as? [String: Any])?["id"].map({ "\($0)" }) else {
                throw Malformed(description: "installation event without installation.id")
            }
            return try await revoke(.github, account: installation)
        // A suspended installation restored: its connections can mint tokens again.
        case (.github, "installation.unsuspend"):
            guard let installation = (event.payload["installation"] as? [String: Any])?["id"].map({ "\($0)" }) else {
                throw Malformed(description: "installation event without installation.id")
            }
            let count = try await connections.setStatus(provider: .github, accountId: installation, .active)
            logger.notice("GitHub installation unsuspended; its connections are active again", metadata: ["connections": "\(count)"])
            return .done
        case (.slack, "app_uninstalled"), (.slack, "tokens_revoked"):
            guard let team = event.payload["team_id"] as? String else { throw Malformed(description: "Slack event without team_id") }
            return try await revoke(.slack, account: team)
        // Requests for the assistant: `AgentTriggers` registers for these when the agent is
        // configured; otherwise they are recorded, not dropped.
        case (.slack, "app_mention"), (.slack, "message"), (.linear, "AgentSessionEvent.created"), (.linear, "AgentSessionEvent.prompted"):
            return .skipped("the agent is not configured (ANTHROPIC_API_KEY, ANTHROPIC_MODEL)")
        default:
            return .skipped("no handler for \(event.provider.rawValue) \(event.eventType)")
        }
    }

    private func revoke(_ provider: ProviderID, account: String) async throws -> WebhookOutcome {
        let count = try await connections.setStatus(provider: provider, accountId: account, .revoked)
        logger.info("provider revoked access", metadata: ["provider": "\(provider.rawValue)", "account": "\(account)", "connections": "\(count)"])
        return .done
    }
}
