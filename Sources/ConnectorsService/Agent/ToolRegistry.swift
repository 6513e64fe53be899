import DB
import Foundation
import Logging
import MCP
import Shared

/// Every tool there is, and the set offered to one user: the tools of the providers they have
/// an active connection to — their own connections only, whoever asks.
struct ToolRegistry: Sendable {
    static let all: [AgentTool] = LinearTools.all + GitHubTools.all + SlackTools.all
    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static func tool(named name: String) -> AgentTool? { byName[name] }

    let connections: ConnectionRepository
    let tokens: ConnectionTokens
    let apis: ProviderAPIs
    let audit: AuditTrail
    let logger: Logger
    /// Tool results longer than this many characters are cut (the model's context is finite).
    var resultLimit = 16_000

    /// The user's tools; `only` narrows them to the names asked for (unknown names are ignored).
    /// `pinned` (a triggered run) fixes the account used for a provider: the workspace or
    /// organization the event came from.
    func toolbox(
        userId: String, only names: [String]? = nil, pinned: [ProviderID: String] = [:], origin: ToolCallOrigin
    ) async throws -> Toolbox {
        var accounts = [ProviderID: [Connection]]()
        // Oldest first: the order the console lists them, and the order of the `account` enum.
        for connection in try await connections.list(userId: userId) where connection.status == .active {
            if let account = pinned[connection.provider], account != connection.accountId { continue }
            accounts[connection.provider, default: []].append(connection)
        }
        let tools = Self.all.filter { tool in
            accounts[tool.provider] != nil && (names.map { $0.contains(tool.name) } ?? true)
        }
        return Toolbox(userId: userId, tools: tools, accounts: accounts, origin: origin, registry: self)
    }
}

/// Where tool calls come from, for the audit trail: the surface, and the run or MCP client.
struct ToolCallOrigin: Sendable {
    var surface: AuditEvent.Surface
    var runId: String? = nil
    var clientId: String? = nil
}

/// The outcome of one tool call, as the model will read it.
struct ToolOutcome: Codable, Sendable, Equatable {
    var text: String
    var isError: Bool
}

/// One user's tools, bound to their connections (as read when the run started; tokens are
/// opened — and refreshed when due — on first use, then reused for the run).
///
/// A provider the user connected more than once (two Slack workspaces, two Linear
/// organizations) makes its tools take an `account` argument, an enum of those accounts: the
/// model names which one, and nothing is chosen for it.
struct Toolbox: Sendable {
    let userId: String
    let tools: [AgentTool]
    /// The user's active connections per provider, oldest first.
    let accounts: [ProviderID: [Connection]]
    let origin: ToolCallOrigin
    let registry: ToolRegistry
    /// Tokens opened so far, by connection.
    private let opened = LockedBox([String: String]())

    init(
        userId: String, tools: [AgentTool], accounts: [ProviderID: [Connection]], origin: ToolCallOrigin,
        registry: ToolRegistry
    ) {
        self.userId = userId
        self.tools = tools
        self.accounts = accounts
        self.origin = origin
        self.registry = registry
    }

    /// The same toolbox with only the tools `include` keeps.
    func limited(_ include: (AgentTool) -> Bool) -> Toolbox {
        Toolbox(
            userId: userId, tools: tools.filter(include), accounts: accounts, origin: origin, registry: registry)
    }

    func tool(named name: String) -> AgentTool? { tools.first { $0.name == name } }

    var specs: [Anthropic.ToolSpec] {
        tools.map { Anthropic.ToolSpec(name: $0.name, description: $0.description, inputSchema: inputSchema(of: $0)) }
    }

    /// The tool's input schema for this user: with an `account` enum, required, when they have
    /// several accounts of its provider.
    func inputSchema(of tool: AgentTool) -> Value {
        let connections = accounts[tool.provider] ?? []
        guard connections.count > 1, var schema = tool.inputSchema.objectValue else { return tool.inputSchema }
        var properties = schema["properties"]?.objectValue ?? [:]
        let names = connections.map { "\($0.accountId) (\($0.accountName ?? $0.accountId))" }.joined(separator: ", ")
        properties["account"] = [
            "type": "string", "enum": .array(connections.map { .string($0.accountId) }),
            "description": .string("Which \(tool.provider.rawValue) account to use: \(names)."),
        ]
        schema["properties"] = .object(properties)
        schema["required"] = .array((schema["required"]?.arrayValue ?? []) + [.string("account")])
        return .object(schema)
    }

    /// The connection a call acts through: the only one, or the one its `account` names.
    func connection(for tool: AgentTool, input: Value) throws -> Connection {
        let connections = accounts[tool.provider] ?? []
        let named = input.objectValue?["account"]?.stringValue
        if let named {
            guard let match = connections.first(where: { $0.accountId == named }) else {
                throw ToolFailure("`account` must be one of: \(connections.map(\.accountId).joined(separator: ", ")).")
            }
            return match
        }
        guard connections.count == 1, let only = connections.first else {
            throw ToolFailure(
                "Name the \(tool.provider.rawValue) account with `account`: one of \(connections.map(\.accountId).joined(separator: ", "))."
            )
        }
        return only
    }

    /// Runs a tool and records the call on the audit trail. Every failure — unknown tool, bad
    /// input, a connection needing re-auth, a provider error — is an `isError` outcome with a
    /// message, never a thrown error.
    func call(_ name: String, input: Value) async -> ToolOutcome {
        let started = ContinuousClock.now
        let outcome = await perform(name, input: input)
        await registry.audit.record(
            AuditEvent(
                userId: userId, surface: origin.surface, action: "tool.call", outcome: outcome.isError ? "error" : "ok",
                tool: name, target: ToolTarget.describe(input), inputSummary: ToolTarget.summary(input),
                runId: origin.runId, clientId: origin.clientId, actor: origin.surface == .mcp ? "mcp_client" : "agent",
                durationMs: Int((ContinuousClock.now - started).wholeMilliseconds)))
        return outcome
    }

    private func perform(_ name: String, input: Value) async -> ToolOutcome {
        guard let tool = tools.first(where: { $0.name == name }) else {
            return ToolOutcome(text: "There is no tool named \(name) for this user.", isError: true)
        }
        do {
            let connection = try connection(for: tool, input: input)
            let token: String
            do {
                if let known = opened.withLock({ $0[connection.id] }) {
                    token = known
                } else {
                    token = try await registry.tokens.accessToken(for: connection)
                    opened.withLock { $0[connection.id] = token }
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
            let text = try await tool.run(
                ToolInput(input),
                ToolAccess(
                    apis: registry.apis, token: token, account: connection.accountId,
                    actor: connection.identity?.id))
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
        ToolJSON.fitted(text, limit: registry.resultLimit)
    }
}
