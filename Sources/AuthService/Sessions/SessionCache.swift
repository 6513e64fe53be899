import Foundation
import Synchronization

/// Sessions read in the last few seconds, so that clients polling `get-session` or `/token`
/// cost no database read per call.
///
/// This replica forgets a session the moment it signs it out, revokes it or extends it; other
/// replicas notice a revocation within `ttl` seconds — well inside the 15 minutes a JWT already
/// issued for that session stays valid at the connectors service. A `ttl` of 0 disables it.
final class SessionCache: Sendable {
    private struct Entry {
        let session: Session
        let user: User
        let storedAt: Date
    }

    /// `generation` counts invalidations, so a read that started before one is not cached after it.
    private struct State {
        var entries: [String: Entry] = [:]
        var generation: UInt64 = 0
    }

    let ttl: TimeInterval
    let capacity: Int
    private let state = Mutex(State())

    init(ttl: TimeInterval, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The cached session with this token, while it is fresh and unexpired.
    func get(token: String, now: Date = Date()) -> (Session, User)? {
        guard ttl > 0 else { return nil }
        return state.withLock { state in
            guard let entry = state.entries[token] else { return nil }
            guard now.timeIntervalSince(entry.storedAt) < ttl, entry.session.expiresAt > now else {
                state.entries[token] = nil
                return nil
            }
            return (entry.session, entry.user)
        }
    }

    /// Taken before a database read; pass it to `put` with what the read found.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Caches what a read found, unless a session was signed out, revoked or changed since the
    /// read began (`generation`): a read that raced a sign-out must not bring the session back.
    func put(_ session: Session, user: User, readAt generation: UInt64, now: Date = Date()) {
        guard ttl > 0 else { return }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity {
                state.entries = state.entries.filter { now.timeIntervalSince($0.value.storedAt) < ttl }
                // Still full of fresh entries: start over rather than grow without bound.
                if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            }
            state.entries[session.token] = Entry(session: session, user: user, storedAt: now)
        }
    }

    func remove(token: String) {
        state.withLock { state in
            state.generation &+= 1
            state.entries[token] = nil
        }
    }

    /// Forgets the user's sessions, except the one with `token` (revocations are rare; a scan is fine).
    func removeAll(userId: String, except token: String? = nil) {
        state.withLock { state in
            state.generation &+= 1
            state.entries = state.entries.filter { $0.value.session.userId != userId || $0.key == token }
        }
    }
}
