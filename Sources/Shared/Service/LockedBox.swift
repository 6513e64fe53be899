import Synchronization

/// A value shared between tasks and threads behind a lock: the one box for state a `Sendable`
/// type must share (a `Mutex` cannot be stored in a struct that is copied).
public final class LockedBox<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) {
        storage = Mutex(value)
    }

    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try storage.withLock { try body(&$0) }
    }

    /// A copy of the value.
    public var value: Value { storage.withLock { $0 } }
}
