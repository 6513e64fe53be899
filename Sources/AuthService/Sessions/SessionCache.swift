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

    let ttl: TimeInterval
    let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(ttl: TimeInterval, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The cached session with this token, while it is fresh and unexpired.
    func get(token: String, now: Date = Date()) -> (Session, User)? {
        guard ttl > 0 else { return nil }
        return entries.withLock { entries in
            guard let entry = entries[token] else { return nil }
            guard now.timeIntervalSince(entry.storedAt) < ttl, entry.session.expiresAt > now else {
                entries[token] = nil
                return nil
            }
            return (entry.session, entry.user)
        }
    }

    func put(_ session: Session, user: User, now: Date = Date()) {
        guard ttl > 0 else { return }
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { now.timeIntervalSince($0.value.storedAt) < ttl }
                // Still full of fresh entries: start over rather than grow without bound.
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[session.token] = Entry(session: session, user: user, storedAt: now)
        }
    }

    func remove(token: String) {
        _ = entries.withLock { $0.removeValue(forKey: token) }
    }

    /// Forgets the user's sessions, except the one with `token` (revocations are rare; a scan is fine).
    func removeAll(userId: String, except token: String? = nil) {
        entries.withLock { entries in
            entries = entries.filter { $0.value.session.userId != userId || $0.key == token }
        }
    }
}
