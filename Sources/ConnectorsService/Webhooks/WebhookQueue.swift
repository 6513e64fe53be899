import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// The `webhookEvent` table as a queue shared by every replica: claims take due pending events
/// with `FOR UPDATE SKIP LOCKED` (expired leases are first put back by `reclaimExpired`), so two workers never hold the same event;
/// every transition is conditioned on still holding the lease.
struct WebhookQueue: Sendable {
    let postgres: Postgres
    let logger: Logger

    /// Leases up to `limit` due events of `lane` to `worker` for `lease`.
    func claim(worker: String, lane: WebhookLane = .standard, limit: Int, lease: Duration) async throws
        -> [WebhookEvent]
    {
        let seconds = Double(lease.wholeMilliseconds) / 1000
        let rows = try await postgres.query(
            """
            UPDATE "webhookEvent" SET "status" = 'processing', "lockedBy" = \(worker),
                "lockedUntil" = now() + make_interval(secs => \(seconds)), "attempts" = "attempts" + 1
            WHERE "id" IN (
                SELECT "id" FROM "webhookEvent" WHERE "status" = 'pending' AND "lane" = \(lane.rawValue) AND "availableAt" <= now()
                ORDER BY "availableAt", "id" LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING "id", "provider", "eventType", "payload"::text, "attempts"
            """, logger: logger)
        var events = [WebhookEvent]()
        for try await (id, provider, type, payload, attempts) in rows.decode((Int64, String, String, String, Int).self)
        {
            guard let provider = ProviderID(rawValue: provider) else { continue }
            let kind = WebhookEventKind(provider, type)
            // Decoded here, once, into the type its kind calls for.
            events.append(
                WebhookEvent(id: id, kind: kind, payload: .decode(kind, json: Data(payload.utf8)), attempts: attempts))
        }
        return events.sorted { $0.id < $1.id }
    }

    /// Puts events whose lease expired (their worker died) back in the queue, their attempt
    /// counted — or, once `maxAttempts` are spent, marks them failed: an event that kills its
    /// worker every time must not take one replica after another down forever. Kept out of
    /// `claim` so claims walk the pending index alone. Returns how many were put back, and the
    /// providers of those given up.
    @discardableResult
    func reclaimExpired(maxAttempts: Int) async throws -> (requeued: Int, failed: [String]) {
        let rows = try await postgres.query(
            """
            UPDATE "webhookEvent" SET
                "status" = CASE WHEN "attempts" >= \(maxAttempts) THEN 'failed' ELSE 'pending' END,
                "lastError" = CASE WHEN "attempts" >= \(maxAttempts)
                    THEN 'gave up: its worker stopped or its lease expired on the last attempt' ELSE "lastError" END,
                "processedAt" = CASE WHEN "attempts" >= \(maxAttempts) THEN now() ELSE "processedAt" END,
                "lockedBy" = NULL, "lockedUntil" = NULL
            WHERE "id" IN (
                SELECT "id" FROM "webhookEvent" WHERE "status" = 'processing' AND "lockedUntil" < now() FOR UPDATE SKIP LOCKED)
            RETURNING "status", "provider"
            """, logger: logger)
        var outcome = (requeued: 0, failed: [String]())
        for try await (status, provider) in rows.decode((String, String).self) {
            if status == Status.failed.rawValue { outcome.failed.append(provider) } else { outcome.requeued += 1 }
        }
        return outcome
    }

    /// The `webhookEvent.status` values (the column's check constraint lists the same).
    enum Status: String, Sendable {
        case pending, processing, done, failed, skipped
    }

    /// An event handled to the end: `done`, or `skipped` with why.
    struct Finished: Sendable {
        var id: Int64
        var status: Status
        var note: String?
    }

    /// Records finished events (one statement for many; see `GroupCommit`).
    func finish(_ events: [Finished], worker: String) async throws -> [Void] {
        try await postgres.query(
            """
            UPDATE "webhookEvent" AS e SET "status" = f."status", "lastError" = NULLIF(f."note", ''), "processedAt" = now(),
                "lockedBy" = NULL, "lockedUntil" = NULL
            FROM unnest(\(events.map(\.id)), \(events.map(\.status.rawValue)), \(events.map { $0.note ?? "" })) AS f("id", "status", "note")
            WHERE e."id" = f."id" AND e."lockedBy" = \(worker)
            """, logger: logger)
        return events.map { _ in () }
    }

    /// Extends the lease on events still being worked on, so a long handler (an agent run)
    /// keeps them past the original lease.
    func renew(_ ids: [Int64], worker: String, lease: Duration) async throws {
        guard !ids.isEmpty else { return }
        let seconds = Double(lease.wholeMilliseconds) / 1000
        try await postgres.query(
            """
            UPDATE "webhookEvent" SET "lockedUntil" = now() + make_interval(secs => \(seconds))
            WHERE "id" = ANY(\(ids)) AND "lockedBy" = \(worker) AND "status" = 'processing'
            """, logger: logger)
    }

    /// Back to pending after `delay`, keeping the error.
    func retry(_ id: Int64, worker: String, error: String, delay: Duration) async throws {
        let seconds = Double(delay.wholeMilliseconds) / 1000
        try await postgres.query(
            """
            UPDATE "webhookEvent" SET "status" = 'pending', "lastError" = \(error), "availableAt" = now() + make_interval(secs => \(seconds)),
                "lockedBy" = NULL, "lockedUntil" = NULL
            WHERE "id" = \(id) AND "lockedBy" = \(worker)
            """, logger: logger)
    }

    func fail(_ id: Int64, worker: String, error: String) async throws {
        try await postgres.query(
            """
            UPDATE "webhookEvent" SET "status" = 'failed', "lastError" = \(error), "processedAt" = now(), "lockedBy" = NULL, "lockedUntil" = NULL
            WHERE "id" = \(id) AND "lockedBy" = \(worker)
            """, logger: logger)
    }

    /// Hands claimed but unstarted events back (shutdown), without counting the attempt.
    func release(_ ids: [Int64], worker: String) async throws {
        guard !ids.isEmpty else { return }
        try await postgres.query(
            """
            UPDATE "webhookEvent" SET "status" = 'pending', "attempts" = greatest("attempts" - 1, 0), "lockedBy" = NULL, "lockedUntil" = NULL
            WHERE "id" = ANY(\(ids)) AND "lockedBy" = \(worker)
            """, logger: logger)
    }
}
