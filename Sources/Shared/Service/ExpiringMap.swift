/// A map whose entries expire, with a bound on how many it holds, at O(1) amortised per
/// operation however full it is: entries are also kept in insertion order, expired ones are
/// dropped from the front as new ones arrive, and when it is full of live entries the oldest
/// goes. (A scan of the whole map whenever it was full — what the in-memory fallbacks did
/// before — costs every request O(n) under a process-wide lock once a flood of distinct keys
/// has filled it.) Not synchronised: keep it inside a `Mutex`.
public struct ExpiringMap<Key: Hashable & Sendable, Value: Sendable, Deadline: Comparable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var value: Value
        var expiresAt: Deadline
        /// Which insertion of this key the order queue's matching element stands for.
        var stamp: UInt64
    }

    public let capacity: Int
    private var entries: [Key: Entry] = [:]
    /// Keys in insertion order, with the stamp they were inserted under; an element whose stamp
    /// no longer matches its key's entry is stale and skipped.
    private var order: [(key: Key, stamp: UInt64)] = []
    private var head = 0
    private var nextStamp: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// The live value for `key`; an expired one is removed and nil returned.
    public mutating func value(for key: Key, now: Deadline) -> Value? {
        guard let entry = entries[key] else { return nil }
        guard entry.expiresAt > now else {
            entries[key] = nil
            return nil
        }
        return entry.value
    }

    /// Stores `value` until `expiresAt`. Storing again under the same deadline keeps the key's
    /// place; a new deadline moves it to the back.
    public mutating func set(_ key: Key, _ value: Value, expiresAt: Deadline, now: Deadline) {
        if var entry = entries[key], entry.expiresAt == expiresAt {
            entry.value = value
            entries[key] = entry
            return
        }
        dropExpiredFront(now: now)
        while entries.count >= capacity, entries[key] == nil, let oldest = popFront() {
            entries[oldest] = nil
        }
        nextStamp &+= 1
        entries[key] = Entry(value: value, expiresAt: expiresAt, stamp: nextStamp)
        order.append((key, nextStamp))
        // Keys stored again under new deadlines leave stale elements behind a live front; past
        // twice the capacity, rebuild the order from the entries (amortised O(log n)).
        if order.count - head > 2 * capacity + 1024 {
            order = entries.map { ($0.key, $0.value.stamp) }.sorted { $0.stamp < $1.stamp }
            head = 0
        }
    }

    public mutating func remove(_ key: Key) {
        entries[key] = nil
    }

    /// Pops front elements that are stale or expired; each element is popped once, so this is
    /// O(1) amortised.
    private mutating func dropExpiredFront(now: Deadline) {
        while head < order.count {
            let (key, stamp) = order[head]
            if let entry = entries[key], entry.stamp == stamp {
                guard entry.expiresAt <= now else { break }
                entries[key] = nil
            }
            head += 1
        }
        compact()
    }

    /// The oldest live key, removed from the order (its entry is the caller's to drop).
    private mutating func popFront() -> Key? {
        while head < order.count {
            let (key, stamp) = order[head]
            head += 1
            if entries[key]?.stamp == stamp {
                compact()
                return key
            }
        }
        compact()
        return nil
    }

    private mutating func compact() {
        if head == order.count {
            order.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
