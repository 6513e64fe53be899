import Foundation
import Logging
import MCP
import Shared

/// Every tool there is, and the set offered to one user: the tools of the providers they have
/// an active connection to — their own connections only, whoever asks.
struct ToolRegistry: Sendable {
    static let all: [AgentTool] = LinearTools.all + GitHubTools.all + SlackTools.all

    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    let logger: Logger
    /// Tool results longer than this many characters are cut (the model's context is finite).
    var resultLimit = 16_000

    /// The user's tools; `only` narrows them to the names asked for (unknown names are ignored).
    func toolbox(userId: String, only names: [String]? = nil) async throws -> Toolbox {
        // The most recently updated active connection stands for its provider.
        var chosen = [ProviderID: Connection]()
        for connection in try await connections.list(userId: userId) where connection.status == .active {
            if let current = chosen[connection.provider], current.updatedAt >= connection.updatedAt { continue }
            chosen[connection.provider] = connection
        }
        let tools = Self.all.filter { tool in
            chosen[tool.provider] != nil && (names.map { $0.contains(tool.name) } ?? true)
        }
        return Toolbox(tools: tools, connections: chosen, registry: self)
    }
}

/// The outcome of one tool call, as the model will read it.
struct ToolOutcome: Sendable, Equatable {
    var text: String
    var isError: Bool
}

/// One user's tools, bound to their connections (as read when the run started; tokens are
/// opened — and refreshed when due — on first use, then reused for the run).
struct Toolbox: Sendable {
    let tools: [AgentTool]
    let connections: [ProviderID: Connection]
    let registry: ToolRegistry
    /// Tokens opened so far, by provider.
    private let opened = LockedBox([ProviderID: String]())

    init(tools: [AgentTool], connections: [ProviderID: Connection], registry: ToolRegistry) {
        self.tools = tools
        self.connections = connections
        self.registry = registry
    }

    /// The same toolbox with only the tools `include` keeps.
    func limited(_ include: (AgentTool) -> Bool) -> Toolbox {
        Toolbox(tools: tools.filter(include), connections: connections, registry: registry)
    }

    var specs: [Anthropic.ToolSpec] {
        tools.map { Anthropic.ToolSpec(name: $0.name, description: $0.description, inputSchema: $0.inputSchema) }
    }

    /// Runs a tool. Every failure — unknown tool, bad input, a connection needing re-auth, a
    /// provider error — is an `isError` outcome with a message, never a thrown error.
    func call(_ name: String, input: Value) async -> ToolOutcome {
        guard let tool = tools.first(where: { $0.name == name }), let connection = connections[tool.provider] else {
            return ToolOutcome(text: "There is no tool named \(name) for this user.", isError: true)
        }
        do {
            let token: String
            do {
                if let known = opened.withLock({ $0[tool.provider] }) {
                    token = known
                } else {
                    token = try await registry.tokens.accessToken(for: connection)
                    opened.withLock { $0[tool.provider] = token }
                }
            } catch let failure as ConnectionTokens.Failure {
                let provider = tool.provider.rawValue
                let message =
                    switch failure {
                    case .reauthRequired: "The \(provider) connection needs to be connected again."
                    case .revoked: "The \(provider) connection was revoked."
                    case .notFound: "The \(provider) connection no longer exists."
                    case .unavailable(let reason): "The \(provider) token could not be refreshed: \(reason)"
                    }
                throw ToolFailure(message)
            }
            let text = try await tool.run(ToolInput(input), ToolAccess(apis: registry.apis, token: token))
            return ToolOutcome(text: truncated(text), isError: false)
        } catch let failure as ToolFailure {
            return ToolOutcome(text: truncated(failure.description), isError: true)
        } catch let failure as ProviderAPIFailure {
            return ToolOutcome(text: truncated(failure.description), isError: true)
        } catch {
            registry.logger.warning("a tool failed unexpectedly", metadata: ["tool": "\(name)", "error": "\(error)"])
            return ToolOutcome(text: "The tool failed: \(error)", isError: true)
        }
    }

    private func truncated(_ text: String) -> String {
        guard text.count > registry.resultLimit else { return text }
        return String(text.prefix(registry.resultLimit)) + "\n…[truncated: \(text.count) characters in all]"
    }
}
