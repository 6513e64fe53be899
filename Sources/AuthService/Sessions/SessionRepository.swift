import DB
import Foundation
import Logging
import PostgresNIO

/// Sessions in Better Auth's `session` table.
struct SessionRepository: Sendable {
    let postgres: Postgres
    let logger: Logger
    /// Serves repeated lookups of one token for a few seconds; see `SessionCache`.
    var cache = SessionCache(ttl: 0)

    /// Deletes sessions that expired before `now` (a daily sweep; an expired session is refused
    /// anyway). In batches, like every retention sweep. Returns how many went.
    func deleteExpired(now: Date = Date(), batch: Int = 1000) async throws -> Int {
        try await Retention.deleteInBatches(batch) { limit in
            try await postgres.query(
                """
                WITH gone AS (
                    DELETE FROM "session" WHERE "id" IN (
                        SELECT "id" FROM "session" WHERE "expiresAt" < \(now) LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*)::int FROM gone
                """, logger: logger)
        }
    }

    func create(userId: String, lifetime: TimeInterval, ipAddress: String?, userAgent: String?, now: Date = Date())
        async throws -> Session
    {
        let session = Session(
            id: AuthID.make(), token: AuthID.make(), userId: userId, expiresAt: now.addingTimeInterval(lifetime),
            createdAt: now, updatedAt: now, ipAddress: ipAddress, userAgent: userAgent)
        try await postgres.query(
            """
            INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
            VALUES (\(session.id), \(session.expiresAt), \(session.token), \(now), \(now), \(ipAddress), \(userAgent), \(userId))
            """, logger: logger)
        return session
    }

    /// The unexpired session with this token, and its user.
    func find(token: String, now: Date = Date()) async throws -> (Session, User)? {
        if let cached = cache.get(token: token, now: now) { return cached }
        let generation = cache.generation
        let rows = try await postgres.query(
            """
            SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent",
                   u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt"
            FROM "session" s JOIN "user" u ON u."id" = s."userId"
            WHERE s."token" = \(token) AND s."expiresAt" > \(now)
            """, logger: logger)
        for try await (
            id, token, userId, expiresAt, createdAt, updatedAt, ip, agent, name, email, verified, image, userCreated,
            userUpdated
        ) in rows.decode(
            (String, String, String, Date, Date, Date, String?, String?, String, String, Bool, String?, Date, Date).self
        ) {
            let session = Session(
                id: id, token: token, userId: userId, expiresAt: expiresAt, createdAt: createdAt, updatedAt: updatedAt,
                ipAddress: ip, userAgent: agent)
            let user = User(
                id: userId, name: name, email: email, emailVerified: verified, image: image, createdAt: userCreated,
                updatedAt: userUpdated)
            cache.put(session, user: user, readAt: generation, now: now)
            return (session, user)
        }
        return nil
    }

    /// Pushes the expiry out (sliding refresh).
    func extend(_ session: Session, to expiresAt: Date, now: Date = Date()) async throws -> Session {
        try await postgres.query(
            """
            UPDATE "session" SET "expiresAt" = \(expiresAt), "updatedAt" = \(now) WHERE "id" = \(session.id)
            """, logger: logger)
        var extended = session
        extended.expiresAt = expiresAt
        extended.updatedAt = now
        cache.remove(token: session.token)
        return extended
    }

    /// Deletes the session with this token; returns its id, or nil if there was none.
    @discardableResult
    func delete(token: String) async throws -> String? {
        defer { cache.remove(token: token) }  // after the delete too: with `generation`, no racing read re-caches it
        let rows = try await postgres.query(
            #"DELETE FROM "session" WHERE "token" = \#(token) RETURNING "id""#, logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }
}

extension SessionRepository {
    /// The user's unexpired sessions, newest first.
    func list(userId: String, now: Date = Date()) async throws -> [Session] {
        let rows = try await postgres.query(
            """
            SELECT "id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"
            FROM "session" WHERE "userId" = \(userId) AND "expiresAt" > \(now)
            ORDER BY "createdAt" DESC
            """, logger: logger)
        var sessions = [Session]()
        for try await (id, token, userId, expiresAt, createdAt, updatedAt, ip, agent) in rows.decode(
            (String, String, String, Date, Date, Date, String?, String?).self)
        {
            sessions.append(
                Session(
                    id: id, token: token, userId: userId, expiresAt: expiresAt, createdAt: createdAt,
                    updatedAt: updatedAt, ipAddress: ip, userAgent: agent))
        }
        return sessions
    }

    /// Deletes one of the user's sessions; false when the token is not one of theirs.
    func delete(token: String, ofUser userId: String) async throws -> Bool {
        defer { cache.remove(token: token) }  // after the delete too: with `generation`, no racing read re-caches it
        let rows = try await postgres.query(
            #"DELETE FROM "session" WHERE "token" = \#(token) AND "userId" = \#(userId) RETURNING "id""#, logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Deletes every session of the user (`revoke-sessions`).
    func deleteAll(userId: String) async throws {
        defer { cache.removeAll(userId: userId) }
        try await postgres.query(#"DELETE FROM "session" WHERE "userId" = \#(userId)"#, logger: logger)
    }

    /// Deletes every session of the user except `keeping`.
    func deleteOthers(userId: String, keeping token: String) async throws {
        defer { cache.removeAll(userId: userId, except: token) }
        try await postgres.query(
            #"DELETE FROM "session" WHERE "userId" = \#(userId) AND "token" <> \#(token)"#, logger: logger)
    }
}
