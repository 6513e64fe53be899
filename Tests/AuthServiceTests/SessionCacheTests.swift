import Foundation
import Testing

@testable import AuthService

@Suite struct SessionCacheTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func session(_ token: String, user: String = "u1") -> (Session, User) {
        (
            Session(
                id: "s-\(token)", token: token, userId: user, expiresAt: now.addingTimeInterval(3600), createdAt: now,
                updatedAt: now, ipAddress: nil, userAgent: nil),
            User(
                id: user, name: "Ada", email: "\(user)@example.com", emailVerified: false, image: nil, createdAt: now,
                updatedAt: now)
        )
    }

    @Test func servesAReadForItsTTLOnly() {
        let cache = SessionCache(ttl: 5)
        let (session, user) = session("t1")
        cache.put(session, user: user, readAt: cache.generation, now: now)
        #expect(cache.get(token: "t1", now: now.addingTimeInterval(4.9))?.0 == session)
        #expect(cache.get(token: "t1", now: now.addingTimeInterval(5)) == nil)
        #expect(cache.get(token: "t2", now: now) == nil)
    }

    /// A get-session whose database read began before a sign-out must not put the signed-out
    /// session back: the read's result is dropped, not cached.
    @Test func aReadThatRacedARevocationIsNotCached() {
        let cache = SessionCache(ttl: 5)
        let (session, user) = session("t1")
        let readStarted = cache.generation
        cache.remove(token: "t1")  // sign-out lands while the read is in flight
        cache.put(session, user: user, readAt: readStarted, now: now)
        #expect(cache.get(token: "t1", now: now) == nil)

        let revokeAllStarted = cache.generation
        cache.removeAll(userId: "someone-else")
        cache.put(session, user: user, readAt: revokeAllStarted, now: now)
        #expect(cache.get(token: "t1", now: now) == nil)

        cache.put(session, user: user, readAt: cache.generation, now: now)
        #expect(cache.get(token: "t1", now: now)?.0 == session)
    }

    @Test func removeAllKeepsOnlyTheNamedSessionAndOtherUsers() {
        let cache = SessionCache(ttl: 5)
        for (session, user) in [session("a"), session("b"), session("c", user: "u2")] {
            cache.put(session, user: user, readAt: cache.generation, now: now)
        }
        cache.removeAll(userId: "u1", except: "b")
        #expect(cache.get(token: "a", now: now) == nil)
        #expect(cache.get(token: "b", now: now) != nil)
        #expect(cache.get(token: "c", now: now) != nil)
    }

    @Test func aZeroTTLCachesNothing() {
        let cache = SessionCache(ttl: 0)
        let (session, user) = session("t1")
        cache.put(session, user: user, readAt: cache.generation, now: now)
        #expect(cache.get(token: "t1", now: now) == nil)
    }
}
