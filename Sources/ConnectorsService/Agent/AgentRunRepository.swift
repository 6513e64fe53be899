import Foundation
import Logging
import PostgresNIO

/// Runs in `agentRun`: inserted when they start, written once more when they end.
struct AgentRunRepository: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    /// Stores a starting run. A run for an event (`triggerKey`) replaces an earlier attempt's
    /// run that never delivered its answer (the worker died, or the event is being retried).
    func insert(_ run: AgentRun) async throws {
        if let key = run.triggerKey {
            try await postgres.query(
                #"DELETE FROM "agentRun" WHERE "triggerKey" = \#(key) AND "deliveredAt" IS NULL"#, logger: logger)
        }
        try await postgres.query(
            """
            INSERT INTO "agentRun" ("id", "userId", "status", "trigger", "prompt", "triggerKey")
            VALUES (\(run.id), \(run.userId), \(run.status.rawValue), \(run.trigger.rawValue), \(run.prompt), \(run.triggerKey))
            """, logger: logger)
    }

    func finish(_ run: AgentRun) async throws {
        let steps = String(decoding: try JSONEncoder().encode(run.steps), as: UTF8.self)
        try await postgres.query(
            """
            UPDATE "agentRun" SET "status" = \(run.status.rawValue), "output" = \(run.output), "steps" = \(steps)::jsonb,
                "stopReason" = \(run.stopReason), "error" = \(run.error), "inputTokens" = \(run.usage.inputTokens),
                "outputTokens" = \(run.usage.outputTokens), "updatedAt" = now(), "finishedAt" = now()
            WHERE "id" = \(run.id)
            """, logger: logger)
    }

    /// The run, if it belongs to `userId`.
    func find(id: String, userId: String) async throws -> AgentRun? {
        let rows = try await postgres.query(
            """
            SELECT "status", "trigger", "prompt", coalesce("output", ''), "steps"::text, "stopReason", "error", "inputTokens", "outputTokens"
            FROM "agentRun" WHERE "id" = \(id) AND "userId" = \(userId)
            """, logger: logger)
        for try await (status, trigger, prompt, output, steps, stopReason, error, input, outputTokens)
            in rows.decode((String, String, String, String, String, String?, String?, Int, Int).self)
        {
            guard let status = AgentRun.Status(rawValue: status), let trigger = AgentRun.Trigger(rawValue: trigger)
            else { return nil }
            return AgentRun(
                id: id, userId: userId, status: status, trigger: trigger, prompt: prompt, output: output,
                steps: (try? JSONDecoder().decode([AgentStep].self, from: Data(steps.utf8))) ?? [],
                stopReason: stopReason, error: error,
                usage: Anthropic.Usage(inputTokens: input, outputTokens: outputTokens))
        }
        return nil
    }
}

extension AgentRunRepository {
    /// A webhook-started run already delivered for `key` (so the event needs nothing more).
    func delivered(triggerKey key: String) async throws -> Bool {
        let rows = try await postgres.query(
            #"SELECT 1 FROM "agentRun" WHERE "triggerKey" = \#(key) AND "deliveredAt" IS NOT NULL"#, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// A run for `key` that finished but whose answer never reached the provider (posting it
    /// failed): a retry posts this answer instead of running — and acting — again.
    func finishedUndelivered(triggerKey key: String) async throws -> AgentRun? {
        let rows = try await postgres.query(
            """
            SELECT "id", "userId" FROM "agentRun"
            WHERE "triggerKey" = \(key) AND "deliveredAt" IS NULL AND "status" <> 'running'
            """, logger: logger)
        for try await (id, userId) in rows.decode((String, String).self) {
            return try await find(id: id, userId: userId)
        }
        return nil
    }

    func markDelivered(runId: String) async throws {
        try await postgres.query(#"UPDATE "agentRun" SET "deliveredAt" = now() WHERE "id" = \#(runId)"#, logger: logger)
    }
}
