import Logging
import PostgresNIO

/// Verified deliveries in `webhookEvent`, unique per provider and delivery key.
struct WebhookEventRepository: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    /// Stores a delivery for the worker; false when this provider already delivered this key
    /// (a retry or a duplicate), in which case nothing changes.
    func insert(provider: ProviderID, deliveryKey: String, eventType: String, payload: String) async throws -> Bool {
        let rows = try await postgres.query("""
            INSERT INTO "webhookEvent" ("provider", "deliveryKey", "eventType", "payload")
            VALUES (\(provider.rawValue), \(deliveryKey), \(eventType), \(payload)::jsonb)
            ON CONFLICT ("provider", "deliveryKey") DO NOTHING
            RETURNING "id"
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
