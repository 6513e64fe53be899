import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// `ConnectorsService reencrypt`: rewrites every sealed token (connections and pending links)
/// that is not under the current `ENCRYPTION_KEY`, so a previous key can then be dropped from
/// `ENCRYPTION_KEY_PREVIOUS`. Each row is updated only if its tokens are still the ones read
/// (a refresh that ran meanwhile already wrote them under the current key).
struct Reencryptor: Sendable {
    struct Report: Sendable, Equatable {
        /// Values re-sealed under the current key.
        var changed = 0
        /// Values already under it.
        var current = 0
    }

    let postgres: Postgres
    let box: SecretBox
    let logger: Logger

    func run() async throws -> Report {
        var report = Report()
        // Connections: additional data names the row's own id.
        let connections = try await postgres.query(
            #"SELECT "id", "id", "provider", "accessToken", "refreshToken" FROM "connection""#, logger: logger)
        for (key, id, provider, access, refresh) in try await collect(connections) {
            guard let (newAccess, newRefresh) = try reseal(access, refresh, id: id, provider: provider, &report) else {
                continue
            }
            try await postgres.query(
                """
                UPDATE "connection" SET "accessToken" = \(newAccess), "refreshToken" = \(newRefresh)
                WHERE "id" = \(key) AND "accessToken" IS NOT DISTINCT FROM \(access) AND "refreshToken" IS NOT DISTINCT FROM \(refresh)
                """, logger: logger)
        }
        // Pending links: sealed for the connection id they will become.
        let links = try await postgres.query(
            #"SELECT "codeHash", "connectionId", "provider", "accessToken", "refreshToken" FROM "pendingLink""#,
            logger: logger)
        for (key, id, provider, access, refresh) in try await collect(links) {
            guard let (newAccess, newRefresh) = try reseal(access, refresh, id: id, provider: provider, &report) else {
                continue
            }
            try await postgres.query(
                """
                UPDATE "pendingLink" SET "accessToken" = \(newAccess), "refreshToken" = \(newRefresh)
                WHERE "codeHash" = \(key) AND "accessToken" IS NOT DISTINCT FROM \(access) AND "refreshToken" IS NOT DISTINCT FROM \(refresh)
                """, logger: logger)
        }
        return report
    }

    private func collect(_ rows: PostgresRowSequence) async throws -> [(String, String, String, String?, String?)] {
        var all = [(String, String, String, String?, String?)]()
        for try await row in rows.decode((String, String, String, String?, String?).self) { all.append(row) }
        return all
    }

    /// The pair re-sealed under the current key, or nil when both already are.
    private func reseal(_ access: String?, _ refresh: String?, id: String, provider: String, _ report: inout Report)
        throws -> (String?, String?)?
    {
        guard let provider = ProviderID(rawValue: provider) else { return nil }
        let context = Connection.sealingContext(id: id, provider: provider)
        var changed = false
        func one(_ sealed: String?) throws -> String? {
            guard let sealed else { return nil }
            guard box.needsResealing(sealed) else {
                report.current += 1
                return sealed
            }
            changed = true
            report.changed += 1
            return try box.seal(try box.open(sealed, additionalData: context), additionalData: context)
        }
        let pair = (try one(access), try one(refresh))
        return changed ? pair : nil
    }
}
