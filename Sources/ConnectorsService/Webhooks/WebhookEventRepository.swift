import Logging
import PostgresNIO

/// A verified delivery on its way into `webhookEvent`.
struct IncomingWebhookEvent: Sendable {
    var provider: ProviderID
    var deliveryKey: String
    var eventType: String
    /// The raw JSON body, stored as `jsonb`.
    var payload: String
}

/// Verified deliveries in `webhookEvent`, unique per provider and delivery key.
struct WebhookEventRepository: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    /// Stores deliveries for the worker in one statement. Returns, for each event in order,
    /// whether it was stored — false when this provider already delivered that key (a retry or
    /// a duplicate, also within `events`), in which case nothing changed for it.
    func insert(_ events: [IncomingWebhookEvent]) async throws -> [Bool] {
        let rows = try await postgres.query("""
            INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload")
            SELECT "provider", "deliveryKey", "eventType", "payload"::jsonb
            FROM unnest(\(events.map(\.provider.rawValue)), \(events.map(\.deliveryKey)), \(events.map(\.eventType)), \(events.map(\.payload)))
                AS e("provider", "deliveryKey", "eventType", "payload")
            ON CONFLICT ("provider", "deliveryKey") DO NOTHING
            RETURNING "provider", "deliveryKey"
            """, logger: logger)
        var stored = Set<Key>()
        for try await (provider, key) in rows.decode((String, String).self) { stored.insert(Key(provider: provider, deliveryKey: key)) }
        // A key returned once is credited to its first occurrence only.
        return events.map { stored.remove(Key(provider: $0.provider.rawValue, deliveryKey: $0.deliveryKey)) != nil }
    }

    private struct Key: Hashable {
        let provider: String
        let deliveryKey: String
    }
}
