import DB
import Foundation
import Logging
import MCP
import PostgresNIO
import Shared

/// `agentApproval`: tool calls waiting for their owner, decided once.
struct ApprovalRepository: Sendable {
    let postgres: Postgres
    let logger: Logger

    enum DecideOutcome: Sendable, Equatable {
        case decided(Approval)
        /// Already approved, denied or expired.
        case alreadyDecided(Approval.Status)
        /// No such approval for this user.
        case notFound
    }

    /// Records the owner's decision, if the approval is still pending and unexpired.
    func decide(id: String, userId: String, _ decision: Approval.Decision, decidedBy: String) async throws
        -> DecideOutcome
    {
        let rows = try await postgres.query(
            """
            UPDATE "agentApproval" SET "status" = \(decision.status.rawValue), "decidedBy" = \(decidedBy), "decidedAt" = now()
            WHERE "id" = \(id) AND "userId" = \(userId) AND "status" = 'pending' AND "expiresAt" > now()
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        if let approval = try await Self.decode(rows).first { return .decided(approval) }
        let existing = try await postgres.query(
            #"SELECT "status", "expiresAt" <= now() FROM "agentApproval" WHERE "id" = \#(id) AND "userId" = \#(userId)"#,
            logger: logger)
        for try await (status, expired) in existing.decode((String, Bool).self) {
            // Past its deadline and not yet swept: it expired all the same.
            return .alreadyDecided(
                status == "pending" && expired ? .expired : Approval.Status(rawValue: status) ?? .expired)
        }
        return .notFound
    }

    /// An approval, whoever's it is (a Slack click names only the approval).
    func find(id: String) async throws -> Approval? {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "agentApproval" WHERE "id" = \#(id)"#, logger: logger)
        return try await Self.decode(rows).first
    }

    /// The user's pending approvals, oldest first.
    func pending(userId: String) async throws -> [Approval] {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "agentApproval"
            WHERE "userId" = \(userId) AND "status" = 'pending' AND "expiresAt" > now() ORDER BY "createdAt", "id"
            """, logger: logger)
        return try await Self.decode(rows)
    }

    func forRun(_ runId: String) async throws -> [Approval] {
        let rows = try await postgres.query(
            #"SELECT \#(unescaped: Self.columns) FROM "agentApproval" WHERE "runId" = \#(runId) ORDER BY "createdAt", "id""#,
            logger: logger)
        return try await Self.decode(rows)
    }

    /// Marks pending approvals past their deadline expired and returns them.
    func expireDue() async throws -> [Approval] {
        let rows = try await postgres.query(
            """
            UPDATE "agentApproval" SET "status" = 'expired', "decidedBy" = 'expiry', "decidedAt" = now()
            WHERE "id" IN (
                SELECT "id" FROM "agentApproval" WHERE "status" = 'pending' AND "expiresAt" <= now()
                LIMIT 500 FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        return try await Self.decode(rows)
    }

    /// Claims the right to make an approved call: true once, for the first caller.
    func markExecuted(id: String) async throws -> Bool {
        let rows = try await postgres.query(
            """
            UPDATE "agentApproval" SET "executedAt" = now()
            WHERE "id" = \(id) AND "status" = 'approved' AND "executedAt" IS NULL RETURNING 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    private static let columns = """
        "id", "runId", "userId", "toolUseId", "tool", "input"::text, "status", "createdAt", "expiresAt", "executedAt"
        """

    private static func decode(_ rows: PostgresRowSequence) async throws -> [Approval] {
        var approvals = [Approval]()
        for try await (id, runId, userId, toolUseId, tool, input, status, createdAt, expiresAt, executedAt)
            in rows
            .decode((String, String, String, String, String, String, String, Date, Date, Date?).self)
        {
            approvals.append(
                Approval(
                    id: id, runId: runId, userId: userId, toolUseId: toolUseId, tool: tool,
                    input: (try? ExactValue.decode(Data(input.utf8))) ?? [:],
                    status: Approval.Status(rawValue: status) ?? .expired, createdAt: createdAt, expiresAt: expiresAt,
                    executedAt: executedAt))
        }
        return approvals
    }
}

extension AgentRunRepository {
    /// Leases up to `limit` paused runs whose every approval is decided, to continue them — within
    /// the same limits a start is held to: a person (or a workspace) already running as many runs
    /// as `limits` allow waits, and one claim takes at most one run per person, so approving many
    /// paused runs at once continues them a few at a time rather than all together.
    func claimResumable(worker: String, limit: Int, lease: Duration, limits: Limits) async throws -> [AgentRun] {
        let seconds = Double(lease.wholeMilliseconds) / 1000
        // One owner per claim: a later claim of the same run, even by this worker, is another.
        let owner = worker + "-" + RandomToken.string(length: 10)
        let rows = try await postgres.query(
            """
            UPDATE "agentRun" SET "status" = 'running', "lockedBy" = \(owner),
                "lockedUntil" = now() + make_interval(secs => \(seconds)), "updatedAt" = now()
            WHERE "id" IN (
                SELECT "id" FROM "agentRun" WHERE "status" = 'awaiting_approval' AND "id" IN (
                    SELECT DISTINCT ON (r."userId") r."id" FROM "agentRun" r
                    WHERE r."status" = 'awaiting_approval'
                      AND NOT EXISTS (SELECT 1 FROM "agentApproval" a WHERE a."runId" = r."id" AND a."status" = 'pending')
                      AND (SELECT count(*) FROM "agentRun" x WHERE x."userId" = r."userId" AND x."status" = 'running'
                           AND x."lockedUntil" > now()) < \(limits.concurrentRuns)
                      AND (r."workspace" IS NULL OR (SELECT count(*) FROM "agentRun" x WHERE x."workspace" = r."workspace"
                           AND x."status" = 'running' AND x."lockedUntil" > now()) < \(limits.workspaceRuns))
                    ORDER BY r."userId", r."updatedAt")
                ORDER BY "updatedAt" LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        return try await Self.decode(rows).map { run in
            var claimed = run
            claimed.owner = owner
            return claimed
        }
    }

    /// Runs whose process died: a resumed one goes back to waiting (its decisions stand, and it
    /// is claimed again); one started from the API without ever pausing is marked failed, and so
    /// is a triggered one whose event is no longer being retried (else the retry runs it again).
    func reclaimStale() async throws {
        try await postgres.query(
            """
            UPDATE "agentRun" SET "status" = 'awaiting_approval', "lockedBy" = NULL, "lockedUntil" = NULL
            WHERE "status" = 'running' AND "state" IS NOT NULL AND "lockedUntil" < now()
            """, logger: logger)
        try await postgres.query(
            """
            UPDATE "agentRun" SET "status" = 'failed', "error" = 'The service stopped during the run.',
                "lockedUntil" = NULL, "finishedAt" = now(), "updatedAt" = now()
            WHERE "status" = 'running' AND "state" IS NULL AND "lockedUntil" < now()
              AND ("triggerKey" IS NULL OR NOT EXISTS (
                  SELECT 1 FROM "webhookEvent" e
                  WHERE 'webhook:' || e."id" = "agentRun"."triggerKey" AND e."status" IN ('pending', 'processing')))
            """, logger: logger)
    }

    /// The paused run answering in this Linear agent session, if one waits.
    func awaiting(linearSession session: String) async throws -> AgentRun? {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "agentRun"
            WHERE "status" = 'awaiting_approval' AND "replyTo"->'linear'->>'session' = \(session)
            ORDER BY "updatedAt" DESC LIMIT 1
            """, logger: logger)
        return try await Self.decode(rows).first
    }
}
