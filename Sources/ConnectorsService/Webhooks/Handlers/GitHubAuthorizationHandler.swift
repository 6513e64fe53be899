/// GitHub `github_app_authorization.revoked`: the person revoked the App's authorization in
/// their GitHub settings, so their user tokens no longer work. Each of their GitHub connections
/// (by `sender.id`) is checked with GitHub first — `X-GitHub-Event` is not signed, so a signed
/// body of another kind replayed under this name must not revoke anything — and marked revoked
/// only when GitHub refuses its token (`GET /user` answers 401).
struct GitHubAuthorizationHandler: WebhookHandler {
    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let github: GitHubAPI
    var lane: WebhookLane { .lifecycle }

    static let reason = "The GitHub App's authorization was revoked in GitHub's settings; connect GitHub again."

    var handles: [WebhookEventKind] { [.githubAuthorizationRevoked] }

    func handle(_ event: WebhookEvent) async throws -> WebhookOutcome {
        guard case .githubAuthorization(let payload) = event.payload else {
            if case .malformed(let reason) = event.payload { throw MalformedWebhookEvent(description: reason) }
            throw MalformedWebhookEvent(description: "github_app_authorization without sender.id")
        }
        let person = String(payload.sender.id)
        var revoked = 0
        for connection in try await connections.active(provider: .github, providerUserId: person) {
            guard try await gitHubRefusesToken(of: connection) else { continue }
            try await connections.setStatus(
                id: connection.id, .revoked, reason: Self.reason, actor: "\(event.kind) webhook")
            revoked += 1
        }
        return revoked > 0 ? .done : .skipped("GitHub still accepts the tokens of user \(person)'s connections")
    }

    private func gitHubRefusesToken(of connection: Connection) async throws -> Bool {
        let token: String
        do {
            token = try await tokens.accessToken(for: connection)
        } catch let failure as ConnectionTokens.Failure {
            // A refresh GitHub refused has already marked it; nothing left to confirm.
            if failure == .reauthRequired || failure == .revoked { return false }
            throw failure
        }
        do {
            _ = try await github.get("/user", token: token)
            return false
        } catch {
            if case .status(401, _) = error.reason { return true }
            throw error
        }
    }
}
