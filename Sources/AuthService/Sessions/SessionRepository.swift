import Foundation
import Logging
import PostgresNIO

/// Sessions in Better Auth's `session` table.
struct SessionRepository: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    func create(userId: String, lifetime: TimeInterval, ipAddress: String?, userAgent: String?, now: Date = Date()) async throws -> Session {
        let session = Session(
            id: AuthID.make(), token: AuthID.make(), userId: userId, expiresAt: now.addingTimeInterval(lifetime),
            createdAt: now, updatedAt: now, ipAddress: ipAddress, userAgent: userAgent)
        try await postgres.query("""
            INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
            VALUES (\(session.id), \(session.expiresAt), \(session.token), \(now), \(now), \(ipAddress), \(userAgent), \(userId))
            """, logger: logger)
        return session
    }

    /// The unexpired session with this token, and its user.
    func find(token: String, now: Date = Date()) async throws -> (Session, User)? {
        let rows = try await postgres.query("""
            SELECT s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent",
                   u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt"
            FROM "session" s JOIN "user" u ON u."id" = s."userId"
            WHERE s."token" = \(token) AND s."expiresAt" > \(now)
            """, logger: logger)
        for try await (id, token, userId, expiresAt, createdAt, updatedAt, ip, agent, name, email, verified, image, userCreated, userUpdated) in rows.decode(
            (String, String, String, Date, Date, Date, String?, String?, String, String, Bool, String?, Date, Date).self)
        {
            let session = Session(id: id, token: token, userId: userId, expiresAt: expiresAt, createdAt: createdAt, updatedAt: updatedAt, ipAddress: ip, userAgent: agent)
            let user = User(id: userId, name: name, email: email, emailVerified: verified, image: image, createdAt: userCreated, updatedAt: userUpdated)
            return (session, user)
        }
        return nil
    }

    /// Pushes the expiry out (sliding refresh).
    func extend(_ session: Session, to expiresAt: Date, now: Date = Date()) async throws -> Session {
        try await postgres.query("""
            UPDATE "session" SET "expiresAt" = \(expiresAt), "updatedAt" = \(now) WHERE "id" = \(session.id)
            """, logger: logger)
        var extended = session
        extended.expiresAt = expiresAt
        extended.updatedAt = now
        return extended
    }

    func delete(token: String) async throws {
        try await postgres.query(#"DELETE FROM "session" WHERE "token" = \#(token)"#, logger: logger)
    }
}
