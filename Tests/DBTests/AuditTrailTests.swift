import DB
import Foundation
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

/// The audit trail's table: written in batches, read newest first per user, exported oldest
/// first, and append-only — no update or delete gets through but the retention purge.
@Suite struct AuditTrailTests {
    let logger = Logger(label: "audit-test")

    @Test func eventsAreStoredListedPerUserAndExported() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withClient(url) { postgres in
            let audit = AuditTrail(postgres: Postgres(postgres), logger: logger)
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<5 {
                    group.addTask {
                        await audit.record(
                            AuditEvent(
                                userId: index.isMultiple(of: 2) ? "u-even" : "u-odd", surface: .api,
                                action: "tool.call",
                                outcome: "ok", tool: "github_comment", target: "acme/app#\(index)",
                                inputSummary: String(repeating: "x", count: 400), runId: "run-\(index)",
                                durationMs: index))
                    }
                }
            }
            let even = try await audit.list(userId: "u-even", limit: 10, before: nil)
            #expect(Set(even.compactMap(\.target)) == ["acme/app#4", "acme/app#2", "acme/app#0"])
            #expect(even.count == 3)
            #expect(even.map(\.id) == even.map(\.id).sorted(by: >))
            #expect(even.allSatisfy { $0.userId == "u-even" && $0.inputSummary?.count == 300 && $0.clientId == nil })
            let page = try await audit.list(userId: "u-even", limit: 10, before: even[0].id)
            #expect(page.map(\.id) == Array(even.dropFirst()).map(\.id))
            var exported = [AuditEvent]()
            try await audit.export(since: Date().addingTimeInterval(-60), page: 2) { exported.append($0) }
            #expect(exported.count == 5)
            #expect(exported.map(\.id) == exported.map(\.id).sorted())
            try await audit.export(since: Date().addingTimeInterval(60)) { _ in Issue.record("nothing is that new") }
        }
    }

    @Test func aSummaryOfManyCodePointsPerCharacterIsStoredCut() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withClient(url) { postgres in
            let audit = AuditTrail(postgres: Postgres(postgres), logger: logger)
            // "❤️" is one character of two code points; the column counts code points.
            await audit.record(
                AuditEvent(
                    userId: "u", surface: .slack, action: "tool.call", outcome: "ok",
                    inputSummary: String(repeating: "❤️", count: 200)))
            let stored = try await audit.list(userId: "u", limit: 1, before: nil)
            #expect(stored.first?.inputSummary?.unicodeScalars.count == 300)
        }
    }

    @Test func rowsCannotBeChangedOrDeletedExceptByRetention() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withClient(url) { postgres in
            let audit = AuditTrail(postgres: Postgres(postgres), logger: logger)
            await audit.record(AuditEvent(userId: "u", surface: .api, action: "policy.changed", outcome: "ok"))
            // An old row, as if written 400 days ago (inserted directly: the trail stamps now()).
            try await postgres.query(
                #"INSERT INTO "auditEvent" ("at", "userId", "surface", "action", "outcome") VALUES (now() - interval '400 days', 'u', 'api', 'tool.call', 'ok')"#
            )
            await #expect(throws: (any Error).self) {
                try await postgres.query(#"UPDATE "auditEvent" SET "outcome" = 'forged'"#)
            }
            await #expect(throws: (any Error).self) {
                try await postgres.query(#"DELETE FROM "auditEvent""#)
            }
            // More old rows than one batch holds: every one goes, in batches.
            try await postgres.query(
                #"INSERT INTO "auditEvent" ("at", "userId", "surface", "action", "outcome") SELECT now() - interval '400 days', 'u', 'api', 'tool.call', 'ok' FROM generate_series(1, 4)"#
            )
            #expect(try await audit.purge(olderThanDays: 365, batch: 2) == 5)
            let left = try await audit.list(userId: "u", limit: 10, before: nil)
            #expect(left.map(\.action) == ["policy.changed"])
            #expect(left.first?.outcome == "ok")
            #expect(try await audit.purge(olderThanDays: 365) == 0)
        }
    }
}
