import Shared

/// Tests' shared mutable values: the product's one locked box.
public typealias SendableBox = LockedBox

extension LockedBox {
    public func get() -> Value { value }
    public func set(_ newValue: Value) { withLock { $0 = newValue } }
    public func update<T>(_ body: (inout Value) -> T) -> T { withLock { body(&$0) } }
}
