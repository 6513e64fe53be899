import HTTPTypes
import Crypto
import DB
import Foundation
import Logging
import PostgresNIO
import Shared

/// What an authorization stores between its steps, in Better Auth's tables: codes in
/// `verification`, refresh tokens in `oauthRefreshToken`, consents in `oauthConsent`; and the
/// revocations the MCP endpoint reads (`oauthGrantRevocation`). Codes and tokens are stored as
/// `OAuthHash.of(value)`.
struct OAuthGrantRepository: Sendable {
    let postgres: Postgres
    let logger: Logger
    /// Consents given and removed are recorded there.
    let audit: AuditTrail

    init(postgres: Postgres, logger: Logger) {
        self.postgres = postgres
        self.logger = logger
        self.audit = AuditTrail(postgres: postgres, logger: logger)
    }

    // MARK: Authorization codes

    /// Stores a code's grant for `lifetime`.
    func saveCode(hash: String, grant: AuthorizationGrant, lifetime: TimeInterval, now: Date = Date()) async throws {
        let value = try String(decoding: JSONEncoder().encode(grant), as: UTF8.self)
        try await postgres.query(
            """
            INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
            VALUES (\(AuthID.make()), \(hash), \(value), \(now.addingTimeInterval(lifetime)), \(now), \(now))
            """, logger: logger)
    }

    /// Takes a code: deletes it and leaves a marker saying it was used (kept an hour past the
    /// code's expiry, so a replay can be recognised). nil when no such unexpired code exists.
    func consumeCode(hash: String, now: Date = Date()) async throws -> (grant: AuthorizationGrant, expiresAt: Date)? {
        let rows = try await postgres.query(
            """
            WITH taken AS (
                DELETE FROM "verification" WHERE "identifier" = \(hash) RETURNING "value", "expiresAt"),
            marked AS (
                INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
                SELECT \(AuthID.make()), \("used:" + hash), "value", "expiresAt" + interval '1 hour', \(now), \(now)
                FROM taken WHERE "expiresAt" > \(now) LIMIT 1)
            SELECT "value", "expiresAt" FROM taken
            """, logger: logger)
        for try await (value, expiresAt) in rows.decode((String, Date).self) where expiresAt > now {
            return (try JSONDecoder().decode(AuthorizationGrant.self, from: Data(value.utf8)), expiresAt)
        }
        return nil
    }

    /// The grant of a code that was already used, if it was ours.
    func usedCode(hash: String) async throws -> AuthorizationGrant? {
        let rows = try await postgres.query(
            """
            SELECT "value" FROM "verification" WHERE "identifier" = \("used:" + hash) LIMIT 1
            """, logger: logger)
        for try await value in rows.decode(String.self) {
            return try? JSONDecoder().decode(AuthorizationGrant.self, from: Data(value.utf8))
        }
        return nil
    }

    // MARK: Refresh tokens

    func insertRefreshToken(_ token: RefreshTokenRecord, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO "oauthRefreshToken" ("id", "token", "clientId", "sessionId", "userId", "authorizationCodeId",
                "resources", "expiresAt", "createdAt", "authTime", "scopes")
            VALUES (\(token.id), \(token.tokenHash), \(token.clientId),
                (SELECT "id" FROM "session" WHERE "id" = \(token.sessionId)), \(token.userId),
                \(token.grantId), \(OAuthClientRepository.json(token.resources))::jsonb, \(token.expiresAt),
                \(token.createdAt), \(token.authTime), \(OAuthClientRepository.json(token.scopes))::jsonb)
            """, logger: logger)
    }

    func insertRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await postgres.withConnection { try await insertRefreshToken(token, on: $0) }
    }

    /// The refresh token with this hash, locked for update inside `connection`'s transaction.
    func lockRefreshToken(hash: String, on connection: PostgresConnection) async throws -> RefreshTokenRecord? {
        let rows = try await connection.query(
            """
            SELECT "id", "token", "clientId", "sessionId", "userId", coalesce("authorizationCodeId", "id"),
                   coalesce(to_jsonb("resources")::text, '[]'), to_jsonb("scopes")::text, "expiresAt", "createdAt",
                   "authTime", "revoked", "rotationReplayResponse", "rotationReplayExpiresAt"
            FROM "oauthRefreshToken" WHERE "token" = \(hash) FOR UPDATE
            """, logger: logger)
        for try await row in rows.decode(
            (
                String, String, String, String?, String, String, String, String, Date, Date, Date?, Date?, String?,
                Date?
            ).self)
        {
            return RefreshTokenRecord(
                id: row.0, tokenHash: row.1, clientId: row.2, sessionId: row.3, userId: row.4, grantId: row.5,
                resources: OAuthClientRepository.strings(row.6) ?? [],
                scopes: OAuthClientRepository.strings(row.7) ?? [],
                expiresAt: row.8, createdAt: row.9, authTime: row.10, revoked: row.11, replayResponse: row.12,
                replayExpiresAt: row.13)
        }
        return nil
    }

    /// Marks a refresh token rotated, keeping the (sealed) answer for the reuse window.
    func markRotated(
        id: String, replayResponse: String, replayUntil: Date, on connection: PostgresConnection, now: Date = Date()
    ) async throws {
        try await connection.query(
            """
            UPDATE "oauthRefreshToken" SET "revoked" = \(now), "rotatedAt" = \(now),
                "rotationReplayResponse" = \(replayResponse), "rotationReplayExpiresAt" = \(replayUntil)
            WHERE "id" = \(id)
            """, logger: logger)
    }

    /// Deletes every refresh token (and stored access token) of a client for a user.
    func deleteTokens(clientId: String, userId: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            DELETE FROM "oauthAccessToken" WHERE "clientId" = \(clientId) AND "userId" = \(userId)
            """, logger: logger)
        try await connection.query(
            """
            DELETE FROM "oauthRefreshToken" WHERE "clientId" = \(clientId) AND "userId" = \(userId)
            """, logger: logger)
    }

    /// Deletes the refresh tokens one authorization issued.
    func deleteTokens(grantId: String) async throws {
        try await postgres.query(
            """
            DELETE FROM "oauthRefreshToken" WHERE "authorizationCodeId" = \(grantId)
            """, logger: logger)
    }

    // MARK: Revocations

    /// Records that tokens stop working: one grant's (`grantId`), or all the client's for the
    /// user issued until now. Kept until the last such access token has expired.
    func revoke(
        clientId: String, userId: String, grantId: String?, tokenLifetime: TimeInterval,
        on connection: PostgresConnection? = nil, now: Date = Date()
    ) async throws {
        let query: PostgresQuery = """
            INSERT INTO "oauthGrantRevocation" ("id", "clientId", "userId", "grantId", "revokedAt", "expiresAt")
            VALUES (\(AuthID.make()), \(clientId), \(userId), \(grantId), \(now),
                \(now.addingTimeInterval(tokenLifetime + 300)))
            """
        if let connection {
            try await connection.query(query, logger: logger)
        } else {
            try await postgres.query(query, logger: logger)
        }
    }

    /// Revokes a refresh token the client holds, and the access tokens of its authorization.
    /// Revokes the grant a refresh token belongs to; the user whose it was, nil for an unknown token.
    @discardableResult
    func revokeRefreshToken(hash: String, clientId: String, tokenLifetime: TimeInterval, now: Date = Date())
        async throws -> String?
    {
        var owner: String?
        let rows = try await postgres.query(
            """
            DELETE FROM "oauthRefreshToken" WHERE "token" = \(hash) AND "clientId" = \(clientId)
            RETURNING "userId", coalesce("authorizationCodeId", "id")
            """, logger: logger)
        for try await (userId, grantId) in rows.decode((String, String).self) {
            try await deleteTokens(grantId: grantId)
            try await revoke(
                clientId: clientId, userId: userId, grantId: grantId, tokenLifetime: tokenLifetime, now: now)
            owner = userId
        }
        return owner
    }

    /// Consent, or an authorization's issue or end, on the audit trail (the spec's "every OAuth
    /// grant"): which client, what it may do or why it ended — never a token.
    func recordGrant(
        _ action: String, userId: String, clientId: String, scopes: [String] = [], why: String? = nil, actor: String
    ) async {
        await audit.record(
            AuditEvent(
                userId: userId, surface: .api, action: action, outcome: "ok", target: "client \(clientId)",
                inputSummary: why ?? (scopes.isEmpty ? nil : scopes.joined(separator: " ")), clientId: clientId,
                actor: actor))
    }

    /// Whether an access token with these claims was revoked (the MCP endpoint's check, here for
    /// introspection and userinfo).
    func isRevoked(clientId: String, userId: String, grantId: String?, issuedAt: Int64?) async throws -> Bool {
        try await isRevoked(
            clientId: clientId, userId: userId, grantId: grantId,
            since: Date(timeIntervalSince1970: TimeInterval(issuedAt ?? 0)))
    }

    func isRevoked(clientId: String, userId: String, grantId: String?, since: Date) async throws -> Bool {
        try await postgres.withConnection { connection in
            try await isRevoked(clientId: clientId, userId: userId, grantId: grantId, since: since, on: connection)
        }
    }

    /// Whether the grant, or the client's access for the user since `since`, was revoked.
    func isRevoked(
        clientId: String, userId: String, grantId: String?, since: Date, on connection: PostgresConnection
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            SELECT 1 FROM "oauthGrantRevocation"
            WHERE ("grantId" = \(grantId) OR ("grantId" IS NULL AND "clientId" = \(clientId) AND "userId" = \(userId)
                   AND "revokedAt" >= \(since)))
            LIMIT 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// Whether a client may introspect tokens for `resource` (a resource server linked to it).
    func isLinked(clientId: String, resource: String) async throws -> Bool {
        let rows = try await postgres.query(
            """
            SELECT 1 FROM "oauthClientResource" WHERE "clientId" = \(clientId) AND "resourceId" = \(resource) LIMIT 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// Removes what has expired: codes, used-code markers, refresh tokens, revocations.
    func sweep(now: Date = Date()) async throws {
        try await postgres.query(
            """
            DELETE FROM "verification" WHERE "expiresAt" < \(now)
            """, logger: logger)
        try await postgres.query(
            """
            DELETE FROM "oauthGrantRevocation" WHERE "expiresAt" < \(now)
            """, logger: logger)
        try await postgres.query(
            """
            DELETE FROM "oauthRefreshToken" WHERE "expiresAt" < \(now)
            """, logger: logger)
    }

    // MARK: Consents

    /// The scopes and resources the user already consented to for this client.
    func consent(clientId: String, userId: String) async throws -> (scopes: [String], resources: [String])? {
        let rows = try await postgres.query(
            """
            SELECT to_jsonb("scopes")::text, coalesce(to_jsonb("resources")::text, '[]') FROM "oauthConsent"
            WHERE "clientId" = \(clientId) AND "userId" = \(userId) ORDER BY "updatedAt" DESC LIMIT 1
            """, logger: logger)
        for try await (scopes, resources) in rows.decode((String, String).self) {
            return (OAuthClientRepository.strings(scopes) ?? [], OAuthClientRepository.strings(resources) ?? [])
        }
        return nil
    }

    /// Records consent, replacing what was there (Better Auth overwrites rather than merges).
    func saveConsent(clientId: String, userId: String, scopes: [String], resources: [String], now: Date = Date())
        async throws
    {
        let scopesJSON = OAuthClientRepository.json(scopes)
        let resourcesJSON = OAuthClientRepository.json(resources)
        try await postgres.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE "oauthConsent" SET "scopes" = \(scopesJSON)::jsonb, "resources" = \(resourcesJSON)::jsonb,
                    "updatedAt" = \(now)
                WHERE "clientId" = \(clientId) AND "userId" = \(userId) RETURNING "id"
                """, logger: logger)
            var updated = false
            for try await _ in rows.decode(String.self) { updated = true }
            if !updated {
                try await connection.query(
                    """
                    INSERT INTO "oauthConsent" ("id", "clientId", "userId", "resources", "scopes", "createdAt", "updatedAt")
                    VALUES (\(AuthID.make()), \(clientId), \(userId), \(resourcesJSON)::jsonb, \(scopesJSON)::jsonb,
                        \(now), \(now))
                    """, logger: logger)
            }
        }
        await recordGrant("oauth.consent_granted", userId: userId, clientId: clientId, scopes: scopes, actor: "user")
    }

    /// The user's connected apps: each consent with its client's name and when a token was last issued.
    func connectedApps(userId: String) async throws -> [ConnectedApp] {
        let rows = try await postgres.query(
            """
            SELECT o."id", o."clientId", c."name", c."uri", c."icon", to_jsonb(o."scopes")::text, o."createdAt",
                   o."updatedAt", (SELECT max(r."createdAt") FROM "oauthRefreshToken" r
                                   WHERE r."clientId" = o."clientId" AND r."userId" = o."userId")
            FROM "oauthConsent" o JOIN "oauthClient" c ON c."clientId" = o."clientId"
            WHERE o."userId" = \(userId) ORDER BY o."updatedAt" DESC
            """, logger: logger)
        var apps = [ConnectedApp]()
        for try await row in rows.decode((String, String, String?, String?, String?, String, Date, Date, Date?).self) {
            apps.append(
                ConnectedApp(
                    id: row.0, clientId: row.1, name: row.2, uri: row.3, icon: row.4,
                    scopes: OAuthClientRepository.strings(row.5) ?? [], createdAt: JSTime.string(row.6),
                    updatedAt: JSTime.string(row.7), lastUsedAt: JSTime.string(max(row.8 ?? row.7, row.7))))
        }
        return apps
    }

    /// Removes a connected app: its consent and refresh tokens, and revokes every access token it
    /// holds for the user. False when the consent is not the user's.
    func disconnect(consentId: String, userId: String, tokenLifetime: TimeInterval, now: Date = Date()) async throws
        -> Bool
    {
        let removed = try await postgres.withTransaction(logger: logger) { connection -> String? in
            let rows = try await connection.query(
                """
                DELETE FROM "oauthConsent" WHERE "id" = \(consentId) AND "userId" = \(userId) RETURNING "clientId"
                """, logger: logger)
            var clientId: String?
            for try await id in rows.decode(String.self) { clientId = id }
            guard let clientId else { return nil }
            try await connection.query(
                """
                DELETE FROM "oauthConsent" WHERE "clientId" = \(clientId) AND "userId" = \(userId)
                """, logger: logger)
            try await deleteTokens(clientId: clientId, userId: userId, on: connection)
            try await revoke(
                clientId: clientId, userId: userId, grantId: nil, tokenLifetime: tokenLifetime, on: connection,
                now: now)
            return clientId
        }
        guard let removed else { return false }
        await recordGrant("oauth.consent_revoked", userId: userId, clientId: removed, actor: "user")
        return true
    }
}

/// What an authorization code stands for (stored as the `verification` row's JSON `value`, in
/// the shape Better Auth stores: `type`, `query`, `userId`, `sessionId`, `authTime`, `resource`).
struct AuthorizationGrant: Codable, Sendable, Equatable {
    struct Query: Codable, Sendable, Equatable {
        var client_id: String
        var redirect_uri: String
        var scope: String
        var state: String?
        var code_challenge: String
        var code_challenge_method: String
        var nonce: String?
    }
    var type = "authorization_code"
    var query: Query
    var userId: String
    var sessionId: String
    /// When the user signed in, in milliseconds (Better Auth's unit).
    var authTime: Int64
    var resource: [String]
}

/// One refresh token row.
struct RefreshTokenRecord: Sendable {
    var id: String
    var tokenHash: String
    var clientId: String
    var sessionId: String?
    var userId: String
    /// The authorization it descends from (`authorizationCodeId`): the access tokens' `sid`.
    var grantId: String
    var resources: [String]
    var scopes: [String]
    var expiresAt: Date
    var createdAt: Date
    var authTime: Date?
    var revoked: Date? = nil
    var replayResponse: String? = nil
    var replayExpiresAt: Date? = nil
}

/// A client the user authorized, for the console's "Connected apps".
struct ConnectedApp: Sendable, Encodable {
    let id: String
    let clientId: String
    let name: String?
    let uri: String?
    let icon: String?
    let scopes: [String]
    let createdAt: String
    let updatedAt: String
    /// When it last got a token (or was last authorized).
    let lastUsedAt: String
}

/// How codes, tokens and client secrets are stored: base64url(SHA-256(value)), as Better Auth
/// stores them.
enum OAuthHash {
    static func of(_ value: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(value.utf8)))
    }
}
