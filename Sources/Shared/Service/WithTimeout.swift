import ServiceLifecycle

/// `body`'s result, or `onTimeout()`'s error once `limit` has passed — `body` is then cancelled.
/// The one deadline race: a timer task against the work, the first to finish wins.
public func withTimeout<T: Sendable>(
    _ limit: Duration, onTimeout: @escaping @Sendable () -> any Error = { TimeoutExpired() },
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await cancellableSleep(for: limit)
            throw onTimeout()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// `withTimeout`'s default error.
public struct TimeoutExpired: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the operation timed out" }
}

/// `body`'s result; once graceful shutdown begins, `body` has `grace` more to finish, then it is
/// cancelled and `onExpiry()`'s error thrown. Outside a service group shutdown never begins.
public func withShutdownGrace<T: Sendable>(
    _ grace: Duration, onExpiry: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await gracefulShutdown()
            try await cancellableSleep(for: grace)
            throw onExpiry()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
