import PostgresNIO

/// Retention sweeps: deletions of old rows in bounded batches.
public enum Retention {
    /// Runs `deleteBatch` (a statement deleting at most `limit` rows and returning how many, as
    /// one `int` row) until a batch comes back short. Each batch is its own statement, so a
    /// sweep never holds many row locks or one long transaction. Returns the total.
    public static func deleteInBatches(
        _ limit: Int, _ deleteBatch: (Int) async throws -> PostgresRowSequence
    ) async throws -> Int {
        var total = 0
        while true {
            var deleted = 0
            for try await count in try await deleteBatch(limit).decode(Int.self) { deleted = count }
            total += deleted
            if deleted < limit { return total }
        }
    }
}
