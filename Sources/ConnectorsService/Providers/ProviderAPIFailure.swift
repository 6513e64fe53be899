/// A provider API call that did not give what was asked, in the provider's own words: what the
/// model reads when a tool fails, and what a provider maps to `ProviderError`.
struct ProviderAPIFailure: Error, CustomStringConvertible, Equatable {
    enum Reason: Sendable, Equatable {
        /// No answer: connection refused, timeout, an unreadable body.
        case unreachable(String)
        /// An HTTP error status, with the provider's message when it gave one.
        case status(Int, String?)
        /// A 200 that reports a failure: Slack's `error` code, GraphQL's `errors`.
        case refused(String)
    }

    let provider: ProviderID
    let operation: String
    let reason: Reason

    var description: String {
        let name = provider.displayName
        return switch reason {
        case .unreachable(let detail): "\(name) could not be reached: \(detail)"
        case .status(let status, let message?): "\(name) answered HTTP \(status) to \(operation): \(message)"
        case .status(let status, nil): "\(name) answered HTTP \(status) to \(operation)."
        case .refused(let message): "\(name) \(operation) failed: \(message)"
        }
    }
}

extension ProviderID {
    var displayName: String {
        switch self {
        case .linear: "Linear"
        case .github: "GitHub"
        case .slack: "Slack"
        }
    }
}
