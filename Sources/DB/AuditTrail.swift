import Foundation
import Logging
import PostgresNIO
import Shared

/// One thing done for someone, as the audit trail records it: what (`action`, `tool`,
/// `target`), for whom (`userId`), from where (`surface`, `clientId`, `runId`), how it ended
/// (`outcome`), and who or what caused it (`actor`; `decidedBy` for a decision).
public struct AuditEvent: Sendable, Equatable {
    /// Where the action came from.
    public enum Surface: String, Sendable, Codable {
        case api, slack, linear, mcp, system
    }

    public var id: Int64 = 0
    public var at = Date()
    public var userId: String
    public var surface: Surface
    public var clientId: String?
    public var runId: String?
    /// `tool.call`, `approval.approved`, `connection.revoked`, `policy.changed`, …
    public var action: String
    public var tool: String?
    /// The repository, channel, issue or account acted on.
    public var target: String?
    /// At most `summaryLength` characters, never a secret.
    public var inputSummary: String?
    public var outcome: String
    public var actor: String?
    public var decidedBy: String?
    public var durationMs: Int?

    public static let summaryLength = 300

    public init(
        userId: String, surface: Surface, action: String, outcome: String, tool: String? = nil,
        target: String? = nil, inputSummary: String? = nil, runId: String? = nil, clientId: String? = nil,
        actor: String? = nil, decidedBy: String? = nil, durationMs: Int? = nil
    ) {
        self.userId = userId
        self.surface = surface
        self.action = action
        self.outcome = outcome
        self.tool = tool
        self.target = target
        // Cut by Unicode scalars: the column's check counts code points, and one visible
        // character (an emoji with a modifier) can be several.
        self.inputSummary = inputSummary.map {
            String(String.UnicodeScalarView($0.unicodeScalars.prefix(Self.summaryLength)))
        }
        self.runId = runId
        self.clientId = clientId
        self.actor = actor
        self.decidedBy = decidedBy
        self.durationMs = durationMs
    }
}

/// The append-only `auditEvent` table (both services write it). Writes from concurrent
/// requests are committed together (`GroupCommit`); every write returns once it is stored.
public struct AuditTrail: Sendable {
    let postgres: Postgres
    let logger: Logger
    private let writes: GroupCommit<AuditEvent, Void>

    public init(postgres: Postgres, logger: Logger) {
        self.postgres = postgres
        self.logger = logger
        self.writes = GroupCommit { events in
            try await Self.insert(events, postgres: postgres, logger: logger)
            return events.map { _ in () }
        }
    }

    /// Stores an event. A failure to store is logged, never thrown: the action it records has
    /// already happened (or been refused), and its caller's answer must not change.
    public func record(_ event: AuditEvent) async {
        do {
            try await writes.submit(event)
        } catch {
            logger.error(
                "an audit event could not be stored",
                metadata: ["action": "\(event.action)", "user": "\(event.userId)", "error": "\(error)"])
        }
    }

    public func record(_ events: [AuditEvent]) async {
        for event in events { await record(event) }
    }

    static func insert(_ events: [AuditEvent], postgres: Postgres, logger: Logger) async throws {
        // Arrays cannot hold NULLs here: absent values travel as '' (and -1) and become NULL again.
        func texts(_ value: (AuditEvent) -> String?) -> [String] { events.map { value($0) ?? "" } }
        try await postgres.query(
            """
            INSERT INTO "auditEvent" ("userId", "surface", "clientId", "runId", "action", "tool", "target", "inputSummary", "outcome", "actor", "decidedBy", "durationMs")
            SELECT "userId", "surface", NULLIF("clientId", ''), NULLIF("runId", ''), "action", NULLIF("tool", ''),
                NULLIF("target", ''), NULLIF("inputSummary", ''), "outcome", NULLIF("actor", ''), NULLIF("decidedBy", ''),
                NULLIF("durationMs", -1)
            FROM unnest(\(texts(\.userId)), \(texts(\.surface.rawValue)), \(texts(\.clientId)), \(texts(\.runId)),
                \(texts(\.action)), \(texts(\.tool)), \(texts(\.target)), \(texts(\.inputSummary)), \(texts(\.outcome)),
                \(texts(\.actor)), \(texts(\.decidedBy)), \(events.map { Int32(clamping: $0.durationMs ?? -1) }))
                AS e("userId", "surface", "clientId", "runId", "action", "tool", "target", "inputSummary", "outcome", "actor", "decidedBy", "durationMs")
            """, logger: logger)
    }

    /// The user's events, newest first, before the event `before` (a cursor) when given.
    public func list(userId: String, limit: Int, before: Int64?) async throws -> [AuditEvent] {
        let rows = try await postgres.query(
            """
            SELECT \(unescaped: Self.columns) FROM "auditEvent"
            WHERE "userId" = \(userId) AND "id" < \(before ?? Int64.max)
            ORDER BY "id" DESC LIMIT \(limit)
            """, logger: logger)
        return try await Self.decode(rows)
    }

    /// Every event since `since`, oldest first, handed over in pages (for operators' exports).
    public func export(since: Date, page: Int = 1000, _ each: (AuditEvent) throws -> Void) async throws {
        var after: Int64 = 0
        while true {
            let rows = try await postgres.query(
                """
                SELECT \(unescaped: Self.columns) FROM "auditEvent"
                WHERE "at" >= \(since) AND "id" > \(after) ORDER BY "id" LIMIT \(page)
                """, logger: logger)
            let events = try await Self.decode(rows)
            for event in events { try each(event) }
            guard let last = events.last, events.count == page else { return }
            after = last.id
        }
    }

    /// Deletes events older than `days` days: the only deletion the table allows. In batches of
    /// `batch`, each its own short transaction, as every retention sweep: one statement over a
    /// year's backlog would outlast the statement timeout, roll back and never get anywhere.
    @discardableResult
    public func purge(olderThanDays days: Int, batch: Int = 1000) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await postgres.withTransaction(logger: logger) { connection -> Int in
                try await connection.query("SELECT set_config('connectors.audit_purge', 'on', true)", logger: logger)
                let rows = try await connection.query(
                    """
                    WITH gone AS (
                        DELETE FROM "auditEvent" WHERE "id" IN (
                            SELECT "id" FROM "auditEvent"
                            WHERE "at" < now() - make_interval(days => \(Int32(clamping: days)))
                            LIMIT \(batch))
                        RETURNING 1)
                    SELECT count(*)::bigint FROM gone
                    """, logger: logger)
                for try await count in rows.decode(Int64.self) { return Int(count) }
                return 0
            }
            total += deleted
            if deleted < batch { return total }
        }
    }

    private static let columns = """
        "id", "at", "userId", "surface", "clientId", "runId", "action", "tool", "target", "inputSummary", "outcome", "actor", "decidedBy", "durationMs"
        """

    private static func decode(_ rows: PostgresRowSequence) async throws -> [AuditEvent] {
        var events = [AuditEvent]()
        for try await row in rows.decode(
            (
                Int64, Date, String, String, String?, String?, String, String?, String?, String?, String, String?,
                String?, Int32?
            ).self)
        {
            let (
                id, at, userId, surface, clientId, runId, action, tool, target, summary, outcome, actor, decidedBy,
                duration
            ) = row
            var event = AuditEvent(
                userId: userId, surface: AuditEvent.Surface(rawValue: surface) ?? .system, action: action,
                outcome: outcome, tool: tool, target: target, inputSummary: summary, runId: runId, clientId: clientId,
                actor: actor, decidedBy: decidedBy, durationMs: duration.map(Int.init))
            event.id = id
            event.at = at
            events.append(event)
        }
        return events
    }
}

/// The JSON an audit event is shown as (`GET /audit`, `export-audit`).
public struct AuditEventView: Encodable, Sendable {
    public let id: String
    public let at: String
    public let userId: String
    public let surface: String
    public let clientId: String?
    public let runId: String?
    public let action: String
    public let tool: String?
    public let target: String?
    public let inputSummary: String?
    public let outcome: String
    public let actor: String?
    public let decidedBy: String?
    public let durationMs: Int?

    public init(_ event: AuditEvent) {
        id = String(event.id)
        at = JSTime.string(event.at)
        userId = event.userId
        surface = event.surface.rawValue
        clientId = event.clientId
        runId = event.runId
        action = event.action
        tool = event.tool
        target = event.target
        inputSummary = event.inputSummary
        outcome = event.outcome
        actor = event.actor
        decidedBy = event.decidedBy
        durationMs = event.durationMs
    }
}
