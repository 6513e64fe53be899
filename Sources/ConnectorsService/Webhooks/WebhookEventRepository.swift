import DB
import Foundation
import Logging
import PostgresNIO

/// A verified delivery on its way into `webhookEvent`.
struct IncomingWebhookEvent: Sendable {
    var provider: ProviderID
    var deliveryKey: String
    var eventType: String
    /// The raw JSON body, stored as `jsonb`.
    var payload: String
    /// Why it is stored `skipped` rather than queued (no handler takes its kind); nil queues it.
    var skipped: String? = nil
    /// The worker loop that claims it.
    var lane: WebhookLane = .standard
}

/// Verified deliveries in `webhookEvent`, unique per provider and delivery key.
struct WebhookEventRepository: Sendable {
    let postgres: Postgres
    let logger: Logger

    /// Stores deliveries for the worker in one statement. Returns, for each event in order,
    /// whether it was stored — false when this provider already delivered that key (a retry or
    /// a duplicate, also within `events`), in which case nothing changed for it.
    func insert(_ events: [IncomingWebhookEvent]) async throws -> [Bool] {
        let rows = try await postgres.query(
            """
            INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload", "status", "lastError", "processedAt", "lane")
            SELECT "provider", "deliveryKey", "eventType", "payload"::jsonb,
                CASE WHEN "skipped" = '' THEN 'pending' ELSE 'skipped' END, NULLIF("skipped", ''),
                CASE WHEN "skipped" = '' THEN NULL ELSE now() END, "lane"
            FROM unnest(\(events.map(\.provider.rawValue)), \(events.map(\.deliveryKey)), \(events.map(\.eventType)), \(events.map { Self.storable($0.payload) }), \(events.map { $0.skipped ?? "" }), \(events.map(\.lane.rawValue)))
                AS e("provider", "deliveryKey", "eventType", "payload", "skipped", "lane")
            ON CONFLICT ("provider", "deliveryKey") DO NOTHING
            RETURNING "provider", "deliveryKey"
            """, logger: logger)
        var stored = Set<Key>()
        for try await (provider, key) in rows.decode((String, String).self) {
            stored.insert(Key(provider: provider, deliveryKey: key))
        }
        // A key returned once is credited to its first occurrence only.
        return events.map { stored.remove(Key(provider: $0.provider.rawValue, deliveryKey: $0.deliveryKey)) != nil }
    }

    /// Deletes events finished (`done` or `skipped`) that arrived before `processedBefore`, and
    /// `failed` ones that arrived before `failedBefore`; pending and in-progress events stay
    /// whatever their age. In batches of `batch`, each its own statement, so no sweep holds many
    /// row locks or one long transaction. Returns how many went.
    func purge(processedBefore: Date, failedBefore: Date, batch: Int = 1000) async throws -> Int {
        try await Retention.deleteInBatches(batch) { limit in
            try await postgres.query(
                """
                WITH gone AS (
                    DELETE FROM "webhookEvent" WHERE "id" IN (
                        SELECT "id" FROM "webhookEvent"
                        WHERE ("status" IN ('done', 'skipped') AND "receivedAt" < \(processedBefore))
                           OR ("status" = 'failed' AND "receivedAt" < \(failedBefore))
                        LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*)::int FROM gone
                """, logger: logger)
        }
    }

    /// The JSON as `jsonb` accepts it. JSON allows `\u0000` in strings; PostgreSQL's `jsonb`
    /// refuses it (its text type cannot hold NUL), which would refuse the whole delivery. Each
    /// such escape becomes `\ufffd`, the replacement character; escapes are read pairwise, so an
    /// escaped backslash followed by `u0000` is left as it is.
    /// Over bytes, from backslash to backslash with `memchr`: `String.contains` compares
    /// characters, and this runs for every delivery.
    private static let escape = Array("u0000".utf8)

    static func hasNullEscape(_ json: String) -> Bool {
        func search(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let base = bytes.baseAddress else { return false }
            var start = 0
            while bytes.count - start >= 6,
                let found = memchr(base + start, Int32(UInt8(ascii: "\\")), bytes.count - start - 5)
            {
                let index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if bytes[index + 1..<index + 6].elementsEqual(escape) { return true }
                start = index + 1
            }
            return false
        }
        // Native strings (a request body becomes one) are contiguous UTF-8; others are copied.
        return json.utf8.withContiguousStorageIfAvailable(search) ?? Array(json.utf8).withUnsafeBufferPointer(search)
    }

    static func storable(_ json: String) -> String {
        guard hasNullEscape(json) else { return json }
        var out = [UInt8]()
        let bytes = Array(json.utf8)
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                out.append(bytes[index])
                index += 1
                continue
            }
            if bytes[index + 1] == UInt8(ascii: "u"), index + 6 <= bytes.count,
                Array(bytes[index + 2..<index + 6]) == Array("0000".utf8)
            {
                out.append(contentsOf: Array("\\ufffd".utf8))
                index += 6
            } else {
                out.append(contentsOf: bytes[index..<index + 2])
                index += 2
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private struct Key: Hashable {
        let provider: String
        let deliveryKey: String
    }
}
