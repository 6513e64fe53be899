/// Requests for the assistant while the agent is not configured: recorded with why, not dropped.
struct AgentOffHandler: WebhookHandler {
    var handles: [WebhookEventKind] { WebhookEventKind.agentRequests }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        .skipped("the agent is not configured (ANTHROPIC_API_KEY, ANTHROPIC_MODEL)")
    }
}
