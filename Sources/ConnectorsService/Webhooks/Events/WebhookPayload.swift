import Foundation

/// A stored delivery's body, decoded once by the worker into the type its kind calls for.
enum WebhookPayload: Sendable {
    case slack(SlackEventCallback)
    case slackInteraction(SlackInteraction)
    case linearAgentSession(LinearAgentSessionEvent)
    case linearOAuthApp(LinearOAuthAppEvent)
    case githubInstallation(GitHubInstallationEvent)
    case githubAuthorization(GitHubAuthorizationEvent)
    /// A kind nothing here reads the body of.
    case unread
    /// A kind we read whose body did not have the shape it should.
    case malformed(String)

    static func decode(_ kind: WebhookEventKind, json: Data) -> Self {
        do {
            switch kind {
            case .slackAppMention, .slackMessage, .slackTokensRevoked, .slackAppUninstalled:
                return .slack(try decoder.decode(SlackEventCallback.self, from: json))
            case .slackBlockActions:
                return .slackInteraction(try decoder.decode(SlackInteraction.self, from: json))
            case .linearAgentSessionCreated, .linearAgentSessionPrompted:
                return .linearAgentSession(try decoder.decode(LinearAgentSessionEvent.self, from: json))
            case .linearOAuthAppRevoked:
                return .linearOAuthApp(try decoder.decode(LinearOAuthAppEvent.self, from: json))
            case .githubInstallationDeleted, .githubInstallationSuspend, .githubInstallationUnsuspend:
                return .githubInstallation(try decoder.decode(GitHubInstallationEvent.self, from: json))
            case .githubAuthorizationRevoked:
                return .githubAuthorization(try decoder.decode(GitHubAuthorizationEvent.self, from: json))
            default:
                return .unread
            }
        } catch {
            return .malformed("\(kind) without the fields it needs: \(Self.describe(error))")
        }
    }

    /// Slack's keys are snake_case; Linear's and GitHub's fields here have no underscores.
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The path and problem, without the payload's values.
    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "missing " + (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            return "wrong type at " + context.codingPath.map(\.stringValue).joined(separator: ".")
        default:
            return "not a JSON object"
        }
    }
}

/// Handlers throw this for a payload that lacks what they need: retried, then failed.
struct MalformedWebhookEvent: Error, CustomStringConvertible {
    let description: String
}

extension WebhookPayload {
    /// The Slack event callback, or `MalformedWebhookEvent`.
    func slack() throws -> SlackEventCallback {
        switch self {
        case .slack(let callback): return callback
        case .malformed(let reason): throw MalformedWebhookEvent(description: reason)
        default: throw MalformedWebhookEvent(description: "not a Slack event callback")
        }
    }

    func slackInteraction() throws -> SlackInteraction {
        switch self {
        case .slackInteraction(let interaction): return interaction
        case .malformed(let reason): throw MalformedWebhookEvent(description: reason)
        default: throw MalformedWebhookEvent(description: "not a Slack interaction")
        }
    }

    func linearAgentSession() throws -> LinearAgentSessionEvent {
        switch self {
        case .linearAgentSession(let event): return event
        case .malformed(let reason): throw MalformedWebhookEvent(description: reason)
        default: throw MalformedWebhookEvent(description: "not a Linear agent session event")
        }
    }
}
