import Foundation
import Hummingbird
import Shared

/// `GET /agent/policy` and `PUT /agent/policy` (JWT): what the caller lets the agent do, per
/// tool — every tool, connected or not, so a policy can be set before connecting.
struct PolicyRoutes: Sendable {
    let policies: ToolPolicyRepository

    struct PolicyList: Encodable {
        struct Entry: Encodable {
            let name: String
            let title: String
            let provider: String
            let risk: String
            let policy: String
        }
        let tools: [Entry]

        init(_ policies: ToolPolicies) {
            tools = ToolRegistry.all.map { tool in
                Entry(
                    name: tool.name, title: tool.title, provider: tool.provider.rawValue, risk: tool.risk.rawValue,
                    policy: policies.policy(for: tool).rawValue)
            }
        }
    }

    struct Update: Decodable {
        let policies: [String: String]
    }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies routePolicies: RoutePolicies) {
        let group = router.group().add(middleware: routePolicies.body.json).add(
            middleware: routePolicies.auth.required
        ).add(middleware: routePolicies.limit.perUser)
        /// Every tool with its risk and the caller's policy for it.
        group.get("/agent/policy") { _, context in
            let user = try context.requireUser()
            return try Response.json(PolicyList(try await policies.load(userId: user.id)))
        }
        /// Sets policies (`{policies: {tool: "allow"|"ask"|"deny"}}`); all or nothing.
        group.put("/agent/policy") { request, context in
            let user = try context.requireUser()
            let body = try await JSONBody.decode(Update.self, from: request, context: context)
            var changes = [String: ToolPolicy]()
            for (name, value) in body.policies {
                guard ToolRegistry.tool(named: name) != nil else {
                    throw AppError.badRequest("VALIDATION_ERROR", "No tool is named \(name).")
                }
                guard let policy = ToolPolicy(rawValue: value) else {
                    throw AppError.badRequest(
                        "VALIDATION_ERROR", "The policy for \(name) must be allow, ask or deny.")
                }
                changes[name] = policy
            }
            if !changes.isEmpty { try await policies.set(userId: user.id, changes) }
            return try Response.json(PolicyList(try await policies.load(userId: user.id)))
        }
    }
}
