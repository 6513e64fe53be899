import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// Users and their password ("credential") accounts, in Better Auth's tables.
struct UserRepository: Sendable {
    let postgres: Postgres
    let logger: Logger

    enum CreateError: Error { case emailTaken }

    /// A user and the stored password hash of their credential account, if any.
    func findByEmail(_ email: String) async throws -> (user: User, passwordHash: String?)? {
        let rows = try await postgres.query(
            """
            SELECT u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", a."password"
            FROM "user" u
            LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'credential'
            WHERE u."email" = \(email)
            LIMIT 1
            """, logger: logger)
        for try await (id, name, email, verified, image, created, updated, password) in rows.decode(
            (String, String, String, Bool, String?, Date, Date, String?).self)
        {
            return (
                User(
                    id: id, name: name, email: email, emailVerified: verified, image: image, createdAt: created,
                    updatedAt: updated), password
            )
        }
        return nil
    }

    /// The user with this id.
    func find(id: String) async throws -> User? {
        let rows = try await postgres.query(
            """
            SELECT "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt" FROM "user"
            WHERE "id" = \(id)
            """, logger: logger)
        for try await (id, name, email, verified, image, created, updated) in rows.decode(
            (String, String, String, Bool, String?, Date, Date).self)
        {
            return User(
                id: id, name: name, email: email, emailVerified: verified, image: image, createdAt: created,
                updatedAt: updated)
        }
        return nil
    }

    /// Creates a user with a credential account in one transaction.
    func create(name: String, email: String, image: String?, passwordHash: String) async throws -> User {
        try await insert(
            name: name, email: email, emailVerified: false, image: image, providerId: "credential", accountId: nil,
            password: passwordHash, scope: nil)
    }

    /// The user and their first account, in one transaction; `accountId` defaults to the user id
    /// (Better Auth's convention for credential accounts). A taken email is `CreateError.emailTaken`.
    private func insert(
        name: String, email: String, emailVerified: Bool, image: String?,
        providerId: String, accountId: String?, password: String?, scope: String?
    ) async throws -> User {
        let now = Date()
        let user = User(
            id: AuthID.make(), name: name, email: email, emailVerified: emailVerified, image: image, createdAt: now,
            updatedAt: now)
        do {
            try await postgres.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
                    VALUES (\(user.id), \(name), \(email), \(emailVerified), \(image), \(now), \(now))
                    """, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "scope", "createdAt", "updatedAt")
                    VALUES (\(AuthID.make()), \(accountId ?? user.id), \(providerId), \(user.id), \(password), \(scope), \(now), \(now))
                    """, logger: logger)
            }
        } catch let error as PostgresTransactionError {
            if let closure = error.closureError as? PSQLError, closure.serverInfo?[.sqlState] == "23505" {
                throw CreateError.emailTaken
            }
            throw error
        }
        return user
    }
}

extension UserRepository {
    /// The stored hash of the user's credential account.
    func passwordHash(userId: String) async throws -> String? {
        let rows = try await postgres.query(
            #"SELECT "password" FROM "account" WHERE "userId" = \#(userId) AND "providerId" = 'credential' LIMIT 1"#,
            logger: logger)
        for try await hash in rows.decode(String?.self) { return hash }
        return nil
    }

    func updatePasswordHash(userId: String, hash: String) async throws {
        try await postgres.query(
            """
            UPDATE "account" SET "password" = \(hash), "updatedAt" = \(Date())
            WHERE "userId" = \(userId) AND "providerId" = 'credential'
            """, logger: logger)
    }
}

extension UserRepository {
    /// The user who has linked this provider account.
    func findByAccount(providerId: String, accountId: String) async throws -> User? {
        let rows = try await postgres.query(
            """
            SELECT u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt"
            FROM "account" a JOIN "user" u ON u."id" = a."userId"
            WHERE a."providerId" = \(providerId) AND a."accountId" = \(accountId)
            LIMIT 1
            """, logger: logger)
        for try await (id, name, email, verified, image, created, updated) in rows.decode(
            (String, String, String, Bool, String?, Date, Date).self)
        {
            return User(
                id: id, name: name, email: email, emailVerified: verified, image: image, createdAt: created,
                updatedAt: updated)
        }
        return nil
    }

    /// Links a provider account to an existing user.
    func linkAccount(userId: String, providerId: String, accountId: String, scope: String?) async throws {
        let now = Date()
        try await postgres.query(
            """
            INSERT INTO "account" ("id", "accountId", "providerId", "userId", "scope", "createdAt", "updatedAt")
            VALUES (\(AuthID.make()), \(accountId), \(providerId), \(userId), \(scope), \(now), \(now))
            """, logger: logger)
    }

    /// Creates a user signed up through a provider, with the provider account, in one transaction.
    func create(
        name: String, email: String, emailVerified: Bool, image: String?, providerId: String, accountId: String,
        scope: String?
    ) async throws -> User {
        try await insert(
            name: name, email: email, emailVerified: emailVerified, image: image, providerId: providerId,
            accountId: accountId, password: nil, scope: scope)
    }
}
