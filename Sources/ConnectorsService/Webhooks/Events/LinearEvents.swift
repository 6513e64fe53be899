/// Linear's `AgentSessionEvent` webhook (`created` when someone delegates or mentions the app,
/// `prompted` for each new message), with the fields the trigger reads.
/// https://linear.app/developers/agent-interaction
struct LinearAgentSessionEvent: Decodable, Sendable, Equatable {
    struct Issue: Decodable, Sendable, Equatable {
        let identifier: String?
        let title: String?
        let description: String?
    }
    struct Comment: Decodable, Sendable, Equatable {
        let body: String?
    }
    struct User: Decodable, Sendable, Equatable {
        let id: String?
    }
    struct Session: Decodable, Sendable, Equatable {
        let id: String
        let issue: Issue?
        let comment: Comment?
        /// The Linear user who delegated or mentioned the app: whom the run acts for.
        let creatorId: String?
        let creator: User?

        var creatorUserId: String? { creatorId ?? creator?.id }
    }
    struct Activity: Decodable, Sendable, Equatable {
        struct Content: Decodable, Sendable, Equatable {
            let body: String?
        }
        /// `stop` when the person asked the agent to stop.
        let signal: String?
        let content: Content?
        /// Who wrote it, when Linear says.
        var userId: String? = nil
    }

    let organizationId: String
    let agentSession: Session
    let agentActivity: Activity?
    /// Linear's own summary of the issue, comments and guidance (on `created`).
    let promptContext: String?
}

/// Linear's `OAuthApp` webhook: `revoked` when an organisation removes the app.
struct LinearOAuthAppEvent: Decodable, Sendable, Equatable {
    let organizationId: String
}
