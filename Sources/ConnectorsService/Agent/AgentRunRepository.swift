import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// Runs in `agentRun`: inserted when they start (within the person's limits), their progress
/// written after each model turn, stored whole when they pause for an approval, and written
/// once more when they end.
struct AgentRunRepository: Sendable {
    let postgres: Postgres
    let logger: Logger

    /// What one person may spend (`AGENT_DAILY_TOKEN_BUDGET`, `AGENT_MAX_CONCURRENT_RUNS`), and
    /// how many runs one Slack or Linear workspace may start at once
    /// (`AGENT_MAX_CONCURRENT_RUNS_PER_WORKSPACE`).
    struct Limits: Sendable {
        /// Input plus output tokens per UTC day; 0 is no limit.
        var dailyTokens = 1_000_000
        var concurrentRuns = 2
        var workspaceRuns = 4
    }

    /// Deletes runs that ended (`completed` or `failed`) and started before `startedBefore`,
    /// with their approvals; running and paused runs stay. The audit trail keeps its own record
    /// of what they did. In batches, like every retention sweep. Returns how many went.
    func purge(startedBefore: Date, batch: Int = 1000) async throws -> Int {
        try await Retention.deleteInBatches(batch) { limit in
            try await postgres.query(
                """
                WITH gone AS (
                    DELETE FROM "agentRun" WHERE "id" IN (
                        SELECT "id" FROM "agentRun"
                        WHERE "status" IN ('completed', 'failed') AND "createdAt" < \(startedBefore)
                        LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*)::int FROM gone
                """, logger: logger)
        }
    }

    enum StartOutcome: Sendable, Equatable {
        case started
        /// Today's tokens are spent; the budget resets at `resetsAt` (00:00 UTC).
        case overBudget(resetsAt: Date)
        case busy
        /// The workspace the request came from has as many runs going as it may.
        case workspaceBusy
    }

    /// Stores a starting run unless the person is over their budget or already running as many
    /// runs as they may, or its workspace is: the check and the insert hold a per-user lock (and
    /// a per-workspace one, always taken second), so two requests at once cannot both take the
    /// last slot. A run for an event (`triggerKey`) replaces an earlier
    /// attempt that died while running (the worker stopped, or the event is being retried).
    /// `lease` is how long the run counts as running without finishing (its process may die).
    func start(_ run: AgentRun, limits: Limits, lease: Duration, now: Date = Date()) async throws -> StartOutcome {
        let day = Self.utcDay(of: now)
        let seconds = Double(lease.wholeMilliseconds) / 1000
        let replyTo = try run.replyTo.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(\("agent-runs:" + run.userId), 0))", logger: logger)
            if limits.dailyTokens > 0 {
                let used = try await connection.query(
                    """
                    SELECT coalesce(sum("inputTokens" + "outputTokens"), 0)::bigint FROM "agentRun"
                    WHERE "userId" = \(run.userId) AND "createdAt" >= \(day.start)
                    """, logger: logger)
                for try await tokens in used.decode(Int64.self) where tokens >= limits.dailyTokens {
                    return .overBudget(resetsAt: day.end)
                }
            }
            let running = try await connection.query(
                """
                SELECT count(*)::bigint FROM "agentRun"
                WHERE "userId" = \(run.userId) AND "status" = 'running' AND "lockedUntil" > now()
                """, logger: logger)
            for try await count in running.decode(Int64.self) where count >= limits.concurrentRuns {
                return .busy
            }
            let workspace = run.replyTo?.workspace
            if let workspace {
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(\("agent-workspace:" + workspace), 0))",
                    logger: logger)
                let busy = try await connection.query(
                    """
                    SELECT count(*)::bigint FROM "agentRun"
                    WHERE "workspace" = \(workspace) AND "status" = 'running' AND "lockedUntil" > now()
                    """, logger: logger)
                for try await count in busy.decode(Int64.self) where count >= limits.workspaceRuns {
                    return .workspaceBusy
                }
            }
            if let key = run.triggerKey {
                try await connection.query(
                    """
                    DELETE FROM "agentRun" WHERE "triggerKey" = \(key) AND "status" = 'running' AND "state" IS NULL
                        AND "deliveredAt" IS NULL
                    """, logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO "agentRun" ("id", "userId", "status", "trigger", "prompt", "triggerKey", "replyTo", "workspace", "lockedBy", "lockedUntil")
                VALUES (\(run.id), \(run.userId), 'running', \(run.trigger.rawValue), \(run.prompt), \(run.triggerKey),
                    \(replyTo)::jsonb, \(workspace), \(run.owner), now() + make_interval(secs => \(seconds)))
                """, logger: logger)
            return .started
        }
    }

    /// The UTC day holding `date`: its start and the next day's start.
    static func utcDay(of date: Date) -> (start: Date, end: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = calendar.startOfDay(for: date)
        return (start, calendar.date(byAdding: .day, value: 1, to: start)!)
    }

    /// The tokens the user's runs started today (UTC) have used.
    func usage(userId: String, now: Date = Date()) async throws -> Anthropic.Usage {
        let rows = try await postgres.query(
            """
            SELECT coalesce(sum("inputTokens"), 0)::bigint, coalesce(sum("outputTokens"), 0)::bigint FROM "agentRun"
            WHERE "userId" = \(userId) AND "createdAt" >= \(Self.utcDay(of: now).start)
            """, logger: logger)
        for try await (input, output) in rows.decode((Int64, Int64).self) {
            return Anthropic.Usage(inputTokens: Int(input), outputTokens: Int(output))
        }
        return Anthropic.Usage()
    }

    /// Steps and usage so far (readable at `GET /agent/runs/:id` while the run goes on), and —
    /// for a run continued after a pause — the conversation after the turn just completed, so
    /// continuing it again (its process died) does not repeat that turn's calls.
    func progress(_ run: AgentRun, state: AgentRunState?) async throws {
        let steps = String(decoding: try JSONEncoder().encode(run.steps), as: UTF8.self)
        let stored = try state.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await postgres.query(
            """
            UPDATE "agentRun" SET "steps" = \(steps)::jsonb, "inputTokens" = \(run.usage.inputTokens),
                "outputTokens" = \(run.usage.outputTokens), "state" = coalesce(\(stored)::jsonb, "state"),
                "updatedAt" = now()
            WHERE "id" = \(run.id) AND "status" = 'running' AND "lockedBy" = \(run.owner)
            """, logger: logger)
    }

    /// Stores a run that waits for `approvals`: its state, steps and usage, and the approvals,
    /// in one transaction. It then holds nothing but these rows. False (and nothing stored)
    /// when the caller no longer holds the run.
    func pause(_ run: AgentRun, state: AgentRunState, approvals: [Approval]) async throws -> Bool {
        let steps = String(decoding: try JSONEncoder().encode(run.steps), as: UTF8.self)
        let stored = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let inputs = approvals.map {
            String(decoding: (try? JSONEncoder().encode($0.input)) ?? Data("{}".utf8), as: UTF8.self)
        }
        return try await postgres.withTransaction(logger: logger) { connection in
            let held = try await connection.query(
                """
                UPDATE "agentRun" SET "status" = 'awaiting_approval', "state" = \(stored)::jsonb, "steps" = \(steps)::jsonb,
                    "inputTokens" = \(run.usage.inputTokens), "outputTokens" = \(run.usage.outputTokens),
                    "output" = \(run.output), "lockedBy" = NULL, "lockedUntil" = NULL, "updatedAt" = now()
                WHERE "id" = \(run.id) AND "status" = 'running' AND "lockedBy" = \(run.owner) RETURNING 1
                """, logger: logger)
            var holds = false
            for try await _ in held { holds = true }
            guard holds else { return false }
            try await connection.query(
                """
                INSERT INTO "agentApproval" ("id", "runId", "userId", "toolUseId", "tool", "input", "createdAt", "expiresAt")
                SELECT a."id", \(run.id), \(run.userId), a."toolUseId", a."tool", a."input"::jsonb, a."createdAt", a."expiresAt"
                FROM unnest(\(approvals.map(\.id)), \(approvals.map(\.toolUseId)), \(approvals.map(\.tool)), \(inputs),
                    \(approvals.map(\.createdAt)), \(approvals.map(\.expiresAt)))
                    AS a("id", "toolUseId", "tool", "input", "createdAt", "expiresAt")
                """, logger: logger)
            return true
        }
    }

    /// Stores how the run ended; false when the caller no longer held it (nothing changed).
    @discardableResult
    func finish(_ run: AgentRun) async throws -> Bool {
        let steps = String(decoding: try JSONEncoder().encode(run.steps), as: UTF8.self)
        let rows = try await postgres.query(
            """
            UPDATE "agentRun" SET "status" = \(run.status.rawValue), "output" = \(run.output), "steps" = \(steps)::jsonb,
                "stopReason" = \(run.stopReason), "error" = \(run.error), "inputTokens" = \(run.usage.inputTokens),
                "outputTokens" = \(run.usage.outputTokens), "state" = NULL, "lockedBy" = NULL, "lockedUntil" = NULL,
                "updatedAt" = now(), "finishedAt" = now()
            WHERE "id" = \(run.id) AND "status" = 'running' AND "lockedBy" = \(run.owner) RETURNING 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The run, if it belongs to `userId`, with its pending approvals.
    func find(id: String, userId: String) async throws -> AgentRun? {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "agentRun" WHERE "id" = \#(id) AND "userId" = \#(userId)"#,
            logger: logger)
        guard var run = try await Self.decode(rows).first else { return nil }
        if run.status == .awaitingApproval {
            run.approvals = try await ApprovalRepository(postgres: postgres, logger: logger).forRun(run.id).filter {
                $0.status == .pending
            }
        }
        return run
    }

    /// The user's runs, newest first, after `cursor` (the last run of the previous page).
    func list(userId: String, limit: Int, after cursor: RunCursor?) async throws -> [AgentRun] {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "agentRun"
            WHERE "userId" = \(userId) AND ("createdAt", "id") < (\(cursor?.createdAt ?? .distantFuture), \(cursor?.id ?? ""))
            ORDER BY "createdAt" DESC, "id" DESC LIMIT \(limit)
            """, logger: logger)
        return try await Self.decode(rows)
    }

    static let columns = """
        "id", "userId", "status", "trigger", "prompt", coalesce("output", ''), "steps"::text, "stopReason", "error",
        "inputTokens", "outputTokens", "triggerKey", "replyTo"::text, "state"::text, "createdAt", "finishedAt", "deliveredAt"
        """

    static func decode(_ rows: PostgresRowSequence) async throws -> [AgentRun] {
        var runs = [AgentRun]()
        for try await row in rows.decode(
            (
                String, String, String, String, String, String, String, String?, String?, Int, Int, String?, String?,
                String?, Date, Date?, Date?
            ).self)
        {
            let (
                id, userId, status, trigger, prompt, output, steps, stopReason, error, input, outputTokens, key,
                replyTo, state, createdAt, finishedAt, deliveredAt
            ) = row
            guard let status = AgentRun.Status(rawValue: status), let trigger = AgentRun.Trigger(rawValue: trigger)
            else { continue }
            let decoder = JSONDecoder()
            runs.append(
                AgentRun(
                    id: id, userId: userId, status: status, trigger: trigger, prompt: prompt, triggerKey: key,
                    output: output, steps: (try? decoder.decode([AgentStep].self, from: Data(steps.utf8))) ?? [],
                    stopReason: stopReason, error: error,
                    usage: Anthropic.Usage(inputTokens: input, outputTokens: outputTokens),
                    replyTo: replyTo.flatMap { try? decoder.decode(ReplyTarget.self, from: Data($0.utf8)) },
                    state: state.flatMap { try? decoder.decode(AgentRunState.self, from: Data($0.utf8)) },
                    createdAt: createdAt, finishedAt: finishedAt, deliveredAt: deliveredAt))
        }
        return runs
    }
}

/// A position in a run list: the last run shown (opaque to clients: base64url of JSON).
struct RunCursor: Codable, Sendable {
    var createdAt: Date
    var id: String

    var encoded: String {
        Base64URL.encode(Data((try? JSONEncoder().encode(self)) ?? Data()))
    }

    init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    init?(encoded: String) {
        guard let bytes = Base64URL.decode(encoded),
            let cursor = try? JSONDecoder().decode(Self.self, from: Data(bytes))
        else { return nil }
        self = cursor
    }
}

extension AgentRunRepository {
    /// The run an event started, in whatever state it is.
    func run(triggerKey key: String) async throws -> AgentRun? {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "agentRun" WHERE "triggerKey" = \#(key)"#, logger: logger)
        return try await Self.decode(rows).first
    }

    /// Whether a run started for `key` is in the hands of a live process (its lease holds).
    func isLeased(_ id: String) async throws -> Bool {
        let rows = try await postgres.query(
            #"SELECT 1 FROM "agentRun" WHERE "id" = \#(id) AND "status" = 'running' AND "lockedUntil" > now()"#,
            logger: logger)
        for try await _ in rows { return true }
        return false
    }

    func markDelivered(runId: String) async throws {
        try await postgres.query(#"UPDATE "agentRun" SET "deliveredAt" = now() WHERE "id" = \#(runId)"#, logger: logger)
    }
}
