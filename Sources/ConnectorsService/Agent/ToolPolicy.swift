import DB
import Foundation
import Logging
import PostgresNIO

/// What a person lets the agent do with one tool: run it (`allow`), ask them first (`ask`),
/// or never offer it (`deny`).
enum ToolPolicy: String, Codable, Sendable, CaseIterable {
    case allow, ask, deny

    /// Reads run; writes ask.
    static func standard(for risk: ToolRisk) -> ToolPolicy { risk == .read ? .allow : .ask }
}

/// One person's policies, with the defaults filled in.
struct ToolPolicies: Sendable {
    var stored: [String: ToolPolicy] = [:]

    func policy(for tool: AgentTool) -> ToolPolicy { stored[tool.name] ?? .standard(for: tool.risk) }

    /// What a run started from `trigger` does with the tool. Runs started by a webhook read
    /// what other people wrote (an issue, a thread), so a write always asks there unless denied.
    func effective(for tool: AgentTool, trigger: AgentRun.Trigger) -> ToolPolicy {
        let policy = policy(for: tool)
        switch (tool.risk, trigger, policy) {
        case (.write, .slack, .allow), (.write, .linear, .allow): return .ask
        default: return policy
        }
    }
}

/// `agentToolPolicy`: the policies people set (absent rows are the defaults). Every change is
/// recorded on the audit trail.
struct ToolPolicyRepository: Sendable {
    let postgres: Postgres
    let audit: AuditTrail
    let logger: Logger

    func load(userId: String) async throws -> ToolPolicies {
        let rows = try await postgres.query(
            #"SELECT "tool", "policy" FROM "agentToolPolicy" WHERE "userId" = \#(userId)"#, logger: logger)
        var policies = ToolPolicies()
        for try await (tool, policy) in rows.decode((String, String).self) {
            policies.stored[tool] = ToolPolicy(rawValue: policy)
        }
        return policies
    }

    /// Sets the given tools' policies (validated by the caller) in one statement and records
    /// each one that changed.
    func set(userId: String, _ changes: [String: ToolPolicy]) async throws {
        let before = try await load(userId: userId)
        let tools = Array(changes.keys).sorted()
        try await postgres.query(
            """
            INSERT INTO "agentToolPolicy" ("userId", "tool", "policy")
            SELECT \(userId), t, p FROM unnest(\(tools), \(tools.map { changes[$0]!.rawValue })) AS c(t, p)
            ON CONFLICT ("userId", "tool") DO UPDATE SET "policy" = excluded."policy", "updatedAt" = now()
            """, logger: logger)
        for name in tools {
            guard let tool = ToolRegistry.tool(named: name), let new = changes[name] else { continue }
            let old = before.policy(for: tool)
            guard old != new else { continue }
            await audit.record(
                AuditEvent(
                    userId: userId, surface: .api, action: "policy.changed", outcome: "ok", tool: name,
                    inputSummary: "\(old.rawValue) → \(new.rawValue)", actor: "user"))
        }
    }
}
