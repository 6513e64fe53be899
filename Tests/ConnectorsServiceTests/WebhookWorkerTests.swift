import DB
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// The webhook worker: handlers, retries, give-up, lease reclaim, and a queue shared safely.
@Suite struct WebhookWorkerTests {
    static func fast(_ config: inout ConnectorsConfig) {
        fastSettings(&config.webhookWorker)
    }

    /// A handler of the test's own for one kind of event.
    struct TestHandler: WebhookHandler {
        let handles: [WebhookEventKind]
        let body: @Sendable (WebhookEvent) async throws -> WebhookOutcome
        func handle(_ event: WebhookEvent) async throws -> WebhookOutcome { try await body(event) }
    }

    static func fastSettings(_ settings: inout WebhookWorker.Settings) {
        settings.idlePoll = .milliseconds(50)
        settings.retryBase = .milliseconds(20)
        settings.maxAttempts = 3
        settings.lease = .seconds(30)
    }

    @discardableResult
    func insertEvent(
        _ app: ConnectorsTestApp, provider: String, key: String, type: String, payload: String,
        status: String = "pending", lockedUntil: String = "NULL"
    ) async throws -> Int64 {
        try await app.sql { sql in
            let rows = try await sql.query(
                """
                INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload", "status", "lockedBy", "lockedUntil")
                VALUES (\(provider), \(key), \(type), \(payload)::jsonb, \(status), \(status == "processing" ? "dead-worker" : nil), \(unescaped: lockedUntil))
                RETURNING "id"
                """)
            for try await id in rows.decode(Int64.self) { return id }
            return -1
        }
    }

    func state(_ app: ConnectorsTestApp, _ id: Int64) async throws -> (
        status: String, attempts: Int, lastError: String?
    ) {
        try await app.sql { sql in
            for try await row in try await sql.query(
                #"SELECT "status", "attempts", "lastError" FROM "webhookEvent" WHERE "id" = \#(id)"#
            ).decode((String, Int, String?).self) {
                return row
            }
            return ("missing", -1, nil)
        }
    }

    func waitFor(_ app: ConnectorsTestApp, _ id: Int64, status: String) async throws {
        try await eventually(timeout: .seconds(60), "event \(id) \(status)") {
            try await state(app, id).status == status
        }
    }

    @Test func revocationEventsMarkTheConnection() async throws {
        let app = try await ConnectorsTestApp.make(configure: Self.fast)
        try await app.insertUser("user-1")
        let linear = try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-acme")
        let slack = try await app.insertConnection(userId: "user-1", provider: .slack, accountId: "T0ACME")
        let untouched = try await app.insertConnection(userId: "user-1", provider: .linear, accountId: "org-other")
        try await app.test { _ in
            let events = [
                try await insertEvent(
                    app, provider: "linear", key: "l1", type: "OAuthApp.revoked",
                    payload: #"{"action":"revoked","organizationId":"org-acme"}"#),
                try await insertEvent(
                    app, provider: "slack", key: "s1", type: "app_uninstalled",
                    payload: #"{"team_id":"T0ACME","event":{"type":"app_uninstalled"}}"#),
            ]
            for id in events { try await waitFor(app, id, status: "done") }
        }
        let statuses = try await app.sql { sql in
            var map = [String: String]()
            for try await (id, status) in try await sql.query(#"SELECT "id", "status" FROM "connection""#).decode(
                (String, String).self)
            { map[id] = status }
            return map
        }
        #expect(statuses == [linear: "revoked", slack: "revoked", untouched: "active"])
        let audited = try await app.sql { sql in
            var rows = [String]()
            for try await (action, actor) in try await sql.query(
                #"SELECT "action", "actor" FROM "auditEvent" WHERE "userId" = 'user-1' ORDER BY "actor""#
            ).decode((String, String).self) { rows.append("\(action) by \(actor)") }
            return rows
        }
        #expect(
            audited == [
                "connection.revoked by linear OAuthApp.revoked webhook",
                "connection.revoked by slack app_uninstalled webhook",
            ])
    }

    @Test func agentRequestsAreRecordedAsSkippedWithAReason() async throws {
        let app = try await ConnectorsTestApp.make(configure: Self.fast)
        try await app.test { _ in
            let mention = try await insertEvent(
                app, provider: "slack", key: "e1", type: "app_mention", payload: #"{"event":{"type":"app_mention"}}"#)
            let unknown = try await insertEvent(
                app, provider: "github", key: "e2", type: "issues.opened", payload: #"{"action":"opened"}"#)
            try await waitFor(app, mention, status: "skipped")
            try await waitFor(app, unknown, status: "skipped")
            #expect(
                try await state(app, mention).lastError
                    == "the agent is not configured (ANTHROPIC_API_KEY, ANTHROPIC_MODEL)")
            #expect(try await state(app, unknown).lastError == "no handler for github issues.opened")
        }
    }

    @Test func failingEventsAreRetriedThenMarkedFailed() async throws {
        let app = try await ConnectorsTestApp.make(configure: Self.fast)
        try await app.test { client in
            let broken = try await insertEvent(
                app, provider: "linear", key: "bad", type: "OAuthApp.revoked", payload: #"{"action":"revoked"}"#)
            try await waitFor(app, broken, status: "failed")
            let final = try await state(app, broken)
            #expect(final.attempts == 3)
            #expect(final.lastError?.contains("organizationId") == true)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            #expect(metrics.contains("webhooks_retried_total"))
            #expect(metrics.contains("webhooks_failed_total"))
        }
    }

    @Test func anExpiredLeaseIsReclaimed() async throws {
        let app = try await ConnectorsTestApp.make(configure: Self.fast)
        try await app.test { _ in
            let orphan = try await insertEvent(
                app, provider: "github", key: "o1", type: "issues.opened", payload: "{}",
                status: "processing", lockedUntil: "now() - interval '1 second'")
            let held = try await insertEvent(
                app, provider: "github", key: "o2", type: "issues.opened", payload: "{}",
                status: "processing", lockedUntil: "now() + interval '1 hour'")
            try await waitFor(app, orphan, status: "skipped")
            #expect(try await state(app, held).status == "processing")
        }
    }

    /// An event whose worker died on its last allowed attempt (a crash, a hang past the lease)
    /// is given up, not handed to the next replica forever.
    @Test func anEventThatOutlivesEveryLeaseIsGivenUp() async throws {
        let app = try await ConnectorsTestApp.make(configure: Self.fast)
        let (spent, retried) = try await app.sql { sql in
            var ids = [Int64]()
            for (key, attempts) in [("k1", 3), ("k2", 1)] {
                let rows = try await sql.query(
                    """
                    INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload", "status", "lockedBy", "lockedUntil", "attempts")
                    VALUES ('github', \(key), 'issues.opened', '{}'::jsonb, 'processing', 'dead-worker', now() - interval '1 second', \(attempts))
                    RETURNING "id"
                    """)
                for try await id in rows.decode(Int64.self) { ids.append(id) }
            }
            return (ids[0], ids[1])
        }
        try await app.test { _ in
            try await waitFor(app, spent, status: "failed")
            #expect(try await state(app, spent).lastError?.contains("gave up") == true)
            #expect(try await state(app, spent).attempts == 3)
            // One with attempts left is put back and handled.
            try await waitFor(app, retried, status: "skipped")
        }
    }

    @Test func concurrentClaimsNeverShareAnEvent() async throws {
        let app = try await ConnectorsTestApp.make()
        for index in 0..<20 {
            try await insertEvent(app, provider: "github", key: "c\(index)", type: "issues.opened", payload: "{}")
        }
        let claimed = try await app.sql { sql in
            let queue = WebhookQueue(postgres: Postgres(sql), logger: Logger(label: "queue-test"))
            return try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in ["a", "b", "c"] {
                    group.addTask { try await queue.claim(worker: worker, limit: 10, lease: .seconds(30)).map(\.id) }
                }
                return try await group.reduce(into: [[Int64]]()) { $0.append($1) }
            }
        }
        let all = claimed.flatMap { $0 }
        #expect(all.count == 20)
        #expect(Set(all).count == 20)
    }

    /// A handler that fails twice and then succeeds ends `done` after three attempts.
    @Test func aHandlerThatFailsTwiceThenSucceedsEndsDone() async throws {
        let app = try await ConnectorsTestApp.make()
        let id = try await insertEvent(app, provider: "github", key: "flaky", type: "issues.opened", payload: "{}")
        let calls = SendableBox(0)
        try await app.sql { sql in
            var settings = WebhookWorker.Settings()
            Self.fastSettings(&settings)
            struct Flaky: Error {}
            let handlers = WebhookHandlers([
                TestHandler(handles: [WebhookEventKind(.github, "issues.opened")]) { _ in
                    let call = calls.update {
                        $0 += 1; return $0
                    }
                    if call < 3 { throw Flaky() }
                    return .done
                }
            ])
            let worker = WebhookWorker(
                queue: WebhookQueue(postgres: Postgres(sql), logger: Logger(label: "t")), handlers: handlers,
                settings: settings,
                logger: Logger(label: "t"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                defer { group.cancelAll() }
                try await waitFor(app, id, status: "done")
            }
        }
        let final = try await state(app, id)
        #expect(final.attempts == 3)
        #expect(calls.get() == 3)
    }

    /// A handler slower than the lease (an agent run) keeps its event: the lease is renewed while
    /// it works, so a second worker does not take the event and run it again.
    ///
    /// The worker renews every lease/3, so a 12 s lease survives a renewal up to 8 s late (a
    /// loaded machine delays timers and queries by seconds). The handler's 20 s outlasts the
    /// lease plus one heartbeat of the other worker (12 + 4 s), so without renewals that worker
    /// would reclaim the event and run it a second time before the first run ends.
    @Test func aHandlerSlowerThanTheLeaseRunsOnce() async throws {
        let app = try await ConnectorsTestApp.make()
        let id = try await insertEvent(app, provider: "slack", key: "slow", type: "app_mention", payload: "{}")
        let calls = SendableBox(0)
        try await app.sql { sql in
            var settings = WebhookWorker.Settings()
            Self.fastSettings(&settings)
            settings.lease = .seconds(12)
            let handlers = WebhookHandlers([
                TestHandler(handles: [.slackAppMention]) { _ in
                    calls.update { $0 += 1 }
                    try await Task.sleep(for: .seconds(20))
                    return .done
                }
            ])
            let workers = (0..<2).map { _ in
                WebhookWorker(
                    queue: WebhookQueue(postgres: Postgres(sql), logger: Logger(label: "t")), handlers: handlers,
                    settings: settings, logger: Logger(label: "t"))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in workers { group.addTask { try await worker.run() } }
                defer { group.cancelAll() }
                try await waitFor(app, id, status: "done")
            }
        }
        #expect(calls.get() == 1)
        #expect(try await state(app, id).attempts == 1)
    }

    /// Lifecycle events have a loop of their own: with every standard slot held by slow agent
    /// runs (here for ten minutes), an `installation.deleted` stored meanwhile is still handled
    /// at once. With one loop for everything it would wait for a slot.
    @Test func lifecycleEventsAreNotStuckBehindSlowRuns() async throws {
        let app = try await ConnectorsTestApp.make()
        for n in 0..<6 {
            try await insertEvent(app, provider: "slack", key: "mention-\(n)", type: "app_mention", payload: "{}")
        }
        let running = SendableBox(0)
        try await app.sql { sql in
            var settings = WebhookWorker.Settings()
            Self.fastSettings(&settings)
            settings.concurrency = 2
            let handlers = WebhookHandlers([
                TestHandler(handles: [.slackAppMention]) { _ in
                    running.update { $0 += 1 }
                    try await Task.sleep(for: .seconds(600))
                    return .done
                },
                TestHandler(handles: [.githubInstallationDeleted]) { _ in .done },
            ])
            let queue = WebhookQueue(postgres: Postgres(sql), logger: Logger(label: "t"))
            let standard = WebhookWorker(
                queue: queue, handlers: handlers, settings: settings, logger: Logger(label: "t"))
            let lifecycle = WebhookWorker(
                queue: queue, handlers: handlers, settings: settings, lane: .lifecycle, logger: Logger(label: "t"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await standard.run() }
                group.addTask { try await lifecycle.run() }
                defer { group.cancelAll() }
                try await eventually(timeout: .seconds(60), "both standard slots busy") { running.get() == 2 }
                let deleted = try await sql.query(
                    """
                    INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload", "lane")
                    VALUES ('github', 'gone', 'installation.deleted', '{"action":"deleted","installation":{"id":1}}', 'lifecycle')
                    RETURNING "id"
                    """)
                var id: Int64 = -1
                for try await value in deleted.decode(Int64.self) { id = value }
                try await waitFor(app, id, status: "done")
                #expect(running.get() == 2, "no slow run was started or finished meanwhile")
            }
        }
    }
}
