import Shared
import Testing

/// The bounded, expiring map behind the in-memory fallbacks.
@Suite struct ExpiringMapTests {
    @Test func entriesExpireAtTheirDeadline() {
        var map = ExpiringMap<String, Int, Int>(capacity: 10)
        map.set("a", 1, expiresAt: 100, now: 0)
        #expect(map.value(for: "a", now: 99) == 1)
        #expect(map.value(for: "a", now: 100) == nil)
        #expect(map.count == 0)
    }

    @Test func aFullMapPushesOutItsOldestLiveEntry() {
        var map = ExpiringMap<Int, Int, Int>(capacity: 3)
        for key in 0..<3 { map.set(key, key, expiresAt: 1_000, now: 0) }
        map.set(3, 3, expiresAt: 1_000, now: 1)
        #expect(map.count == 3)
        #expect(map.value(for: 0, now: 1) == nil)
        #expect([1, 2, 3].map { map.value(for: $0, now: 1) } == [1, 2, 3])
    }

    @Test func expiredEntriesMakeRoomBeforeLiveOnesAreDropped() {
        var map = ExpiringMap<Int, Int, Int>(capacity: 3)
        map.set(0, 0, expiresAt: 5, now: 0)
        map.set(1, 1, expiresAt: 1_000, now: 0)
        map.set(2, 2, expiresAt: 1_000, now: 0)
        map.set(3, 3, expiresAt: 1_000, now: 10)  // 0 has expired: it goes, 1 and 2 stay
        #expect([1, 2, 3].map { map.value(for: $0, now: 10) } == [1, 2, 3])
    }

    @Test func updatingUnderTheSameDeadlineKeepsItsPlaceAndANewDeadlineMovesItBack() {
        var map = ExpiringMap<String, Int, Int>(capacity: 2)
        map.set("a", 1, expiresAt: 100, now: 0)
        map.set("b", 1, expiresAt: 100, now: 0)
        map.set("a", 2, expiresAt: 100, now: 1)  // same window: "a" is still the oldest
        map.set("c", 1, expiresAt: 100, now: 2)
        #expect(map.value(for: "a", now: 2) == nil)
        map.set("b", 2, expiresAt: 200, now: 3)  // a new deadline: "b" is now the newest
        map.set("d", 1, expiresAt: 100, now: 4)
        #expect(map.value(for: "c", now: 4) == nil)
        #expect(map.value(for: "b", now: 4) == 2)
        #expect(map.value(for: "d", now: 4) == 1)
    }

    /// A flood of distinct keys, and one key stored again and again under new deadlines, leave
    /// the map at its bound with the newest entries.
    @Test func floodsStayWithinTheBound() {
        var map = ExpiringMap<Int, Int, Int>(capacity: 1_000)
        for key in 0..<200_000 {
            map.set(key, key, expiresAt: 1_000_000, now: key)
            map.set(-1, key, expiresAt: 1_000_000 + key, now: key)
            #expect(map.count <= 1_000)
        }
        #expect(map.value(for: 199_999, now: 200_000) == 199_999)
        #expect(map.value(for: -1, now: 200_000) == 199_999)
        #expect(map.value(for: 0, now: 200_000) == nil)
    }
}
