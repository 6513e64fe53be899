import DB
import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// The retention sweep deletes exactly what its settings say: finished webhook events and ended
/// agent runs past their days (with their approvals), failed events after their own longer
/// period, and nothing younger, pending, in progress or paused — in batches smaller than what
/// it deletes, so the batching is exercised too.
@Suite struct RetentionTests {
    @Test func theSweepDeletesExactlyWhatItsSettingsSay() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let now = Date()
        let remaining = try await TestDatabase.withClient(database) { sql in
            // (deliveryKey, status, age in days) — the key says what should happen to it.
            let events: [(String, String, Int)] =
                [
                    ("keep-done-13", "done", 13), ("drop-done-15", "done", 15), ("drop-skipped-20", "skipped", 20),
                    ("keep-failed-29", "failed", 29), ("drop-failed-31", "failed", 31),
                    ("keep-pending-400", "pending", 400), ("keep-processing-400", "processing", 400),
                ] + (0..<5).map { ("drop-bulk-\($0)", "done", 100) }
            for (key, status, age) in events {
                try await sql.query(
                    """
                    INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload", "status", "receivedAt")
                    VALUES ('slack', \(key), 'message', '{}'::jsonb, \(status), now() - make_interval(days => \(Int32(age))))
                    """)
            }
            try await sql.query(
                #"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES ('u1', 'Test', 'u1@example.com', true, now(), now())"#
            )
            let runs: [(String, String, Int)] = [
                ("keep-completed-89", "completed", 89), ("drop-completed-91", "completed", 91),
                ("drop-failed-200", "failed", 200), ("keep-running-200", "running", 200),
                ("keep-paused-200", "awaiting_approval", 200),
            ]
            for (id, status, age) in runs {
                try await sql.query(
                    """
                    INSERT INTO "agentRun" ("id", "userId", "status", "prompt", "createdAt")
                    VALUES (\(id), 'u1', \(status), 'p', now() - make_interval(days => \(Int32(age))))
                    """)
                try await sql.query(
                    """
                    INSERT INTO "agentApproval" ("id", "runId", "userId", "toolUseId", "tool", "input", "expiresAt")
                    VALUES (\("approval-" + id), \(id), 'u1', 't', 'slack_post_message', '{}'::jsonb, now())
                    """)
            }
            let logger = Logger(label: "retention-test")
            let settings = RetentionSettings(webhookDays: 14, failedWebhookDays: 30, agentRunDays: 90)
            let webhooks = WebhookEventRepository(postgres: Postgres(sql), logger: logger)
            let agentRuns = AgentRunRepository(postgres: Postgres(sql), logger: logger)
            let removed = try await settings.sweep(webhooks: webhooks, runs: agentRuns, now: now, batch: 2)
            #expect(removed.events == 8)
            #expect(removed.runs == 2)
            // A second sweep finds nothing more.
            let again = try await settings.sweep(webhooks: webhooks, runs: agentRuns, now: now, batch: 2)
            #expect(again.events == 0 && again.runs == 0)
            var left = [String]()
            for query: PostgresQuery in [
                #"SELECT "deliveryKey" FROM "webhookEvent""#, #"SELECT "id" FROM "agentRun""#,
                #"SELECT "id" FROM "agentApproval""#,
            ] {
                for try await name in try await sql.query(query).decode(String.self) { left.append(name) }
            }
            return left.sorted()
        }
        #expect(
            remaining == [
                "approval-keep-completed-89", "approval-keep-paused-200", "approval-keep-running-200",
                "keep-completed-89", "keep-done-13", "keep-failed-29", "keep-paused-200", "keep-pending-400",
                "keep-processing-400", "keep-running-200",
            ])
    }
}

/// One workspace's burst of mentions cannot take every worker slot: its runs at once are
/// bounded whoever asks, other workspaces and API runs are not held by it, and eight starts at
/// once take exactly the four slots.
@Suite struct WorkspaceRunLimitTests {
    @Test func aWorkspaceRunsAtMostItsLimitAtOnce() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await TestDatabase.withClient(database) { sql in
            for n in 0..<10 {
                try await sql.query(
                    #"INSERT INTO "user" ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") VALUES (\#("u\(n)"), 'Test', \#("u\(n)@example.com"), true, now(), now())"#
                )
            }
            let runs = AgentRunRepository(postgres: Postgres(sql), logger: Logger(label: "workspace-limit-test"))
            let limits = AgentRunRepository.Limits(workspaceRuns: 4)
            @Sendable func start(_ user: Int, team: String?) async throws -> AgentRunRepository.StartOutcome {
                var run = AgentRun(id: RandomToken.string(length: 16), userId: "u\(user)", trigger: .slack, prompt: "p")
                run.replyTo = team.map { .slack(team: $0, channel: "C1", thread: "1.0", user: "U\(user)") }
                run.owner = "test"
                return try await runs.start(run, limits: limits, lease: .seconds(600))
            }
            let outcomes = try await withThrowingTaskGroup(of: AgentRunRepository.StartOutcome.self) { group in
                for user in 0..<8 { group.addTask { try await start(user, team: "T1") } }
                return try await group.reduce(into: [AgentRunRepository.StartOutcome]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .started }.count == 4)
            #expect(outcomes.filter { $0 == .workspaceBusy }.count == 4)
            // Another workspace, and a run from the API (no workspace), are not held by T1.
            #expect(try await start(8, team: "T2") == .started)
            #expect(try await start(9, team: nil) == .started)
            // A Linear organisation named like the Slack team is another workspace.
            var linear = AgentRun(id: "linear-1", userId: "u9", trigger: .linear, prompt: "p")
            linear.replyTo = .linear(organization: "T1", session: "s1")
            linear.owner = "test"
            #expect(try await runs.start(linear, limits: limits, lease: .seconds(600)) == .started)
            // A run whose lease ran out (its process died) no longer counts.
            try await sql.query(
                #"UPDATE "agentRun" SET "lockedUntil" = now() - interval '1 second' WHERE "workspace" = 'slack:T1' AND "userId" = (SELECT min("userId") FROM "agentRun" WHERE "workspace" = 'slack:T1')"#
            )
            #expect(try await start(0, team: "T1") == .started)
        }
    }
}
