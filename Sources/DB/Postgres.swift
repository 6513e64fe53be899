import Logging
import PostgresNIO
import Shared

/// The services' PostgreSQL pool, with a bounded wait for a connection: postgres-nio queues a
/// request for a connection for as long as it takes, so with every connection busy (slow
/// statements, a held lock) requests would pile up without end. Past `leaseWait` a request
/// stops waiting and answers 503 `DATABASE_BUSY` (`DATABASE_POOL_WAIT_MS`); `statement_timeout`
/// bounds the other half, the statement itself. Without `leaseWait` (tools, tests) it is the
/// plain pool.
public struct Postgres: Sendable {
    public let client: PostgresClient
    public let leaseWait: Duration?

    public init(_ client: PostgresClient, leaseWait: Duration? = nil) {
        self.client = client
        self.leaseWait = leaseWait
    }

    /// No connection came free within the bound.
    public struct PoolExhausted: Error, ClientFacingError, CustomStringConvertible {
        public var clientError: AppError? { .databaseBusy }
        public var description: String { "no PostgreSQL connection came free in time" }
    }

    /// One statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line)
        async throws -> PostgresRowSequence
    {
        guard let leaseWait else { return try await client.query(query, logger: logger, file: file, line: line) }
        let client = client
        return try await withThrowingTaskGroup(of: PostgresRowSequence?.self) { group in
            group.addTask { try await client.query(query, logger: logger, file: file, line: line) }
            group.addTask {
                try await cancellableSleep(for: leaseWait)
                return nil
            }
            if let rows = try await group.next()! {
                group.cancelAll()
                return rows
            }
            // Cancelling withdraws a request still waiting for a connection; once one is leased
            // the query no longer looks at cancellation and answers as usual.
            group.cancelAll()
            do {
                guard let rows = try await group.next()! else { throw PoolExhausted() }
                return rows
            } catch is CancellationError {
                throw PoolExhausted()
            }
        }
    }

    /// A prepared statement's rows (planned once per connection), read whole.
    public func execute<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws
        -> [Statement.Row] where Statement: Sendable, Statement.Row: Sendable
    {
        try await withConnection { connection in
            var rows = [Statement.Row]()
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// A pooled connection for `body`'s duration.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        guard let leaseWait else { return try await client.withConnection(body) }
        // Whichever moves the state first wins: the lease (the body then runs, never cancelled
        // by the bound) or the bound (a connection leased after it is handed straight back).
        let state = LockedBox(Self.waiting)
        let client = client
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    guard state.withLock({ Self.move(&$0, to: Self.leased) }) else { throw PoolExhausted() }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await cancellableSleep(for: leaseWait)
                if state.withLock({ Self.move(&$0, to: Self.gaveUp) }) { throw PoolExhausted() }
                return nil
            }
            while let result = try await group.next() {
                if let value = result {
                    group.cancelAll()
                    return value
                }
            }
            throw PoolExhausted()
        }
    }

    /// `body` in a transaction on a pooled connection: committed when it returns, rolled back
    /// when it throws.
    public func withTransaction<T: Sendable>(
        logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// Moves a waiting state to `next`; false when the other side moved it first.
    private static func move(_ state: inout UInt8, to next: UInt8) -> Bool {
        guard state == waiting else { return false }
        state = next
        return true
    }

    private static let waiting: UInt8 = 0
    private static let leased: UInt8 = 1
    private static let gaveUp: UInt8 = 2
}
