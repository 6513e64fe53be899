import DB
import HTTPTypes
import Foundation
import Logging
import PostgresNIO
import Shared

/// OAuth clients in Better Auth's `oauthClient` table. List columns are jsonb arrays; they are
/// read through `to_jsonb`, which also reads the `text[]` columns other Better Auth adapters create.
struct OAuthClientRepository: Sendable {
    let postgres: Postgres
    let logger: Logger

    func find(clientId: String) async throws -> OAuthClient? {
        let rows = try await postgres.query(
            """
            SELECT "clientId", "clientSecret", "name", "uri", "icon", to_jsonb("redirectUris")::text,
                   "tokenEndpointAuthMethod", "applicationType", coalesce(to_jsonb("grantTypes")::text, '[]'),
                   coalesce(to_jsonb("responseTypes")::text, '[]'), to_jsonb("scopes")::text,
                   coalesce("disabled", false), coalesce("skipConsent", false), "clientDiscoveryId",
                   coalesce("createdAt", now())
            FROM "oauthClient" WHERE "clientId" = \(clientId)
            """, logger: logger)
        for try await row in rows.decode(
            (
                String, String?, String?, String?, String?, String, String?, String?, String, String, String?, Bool,
                Bool, String?, Date
            ).self)
        {
            return OAuthClient(
                clientId: row.0, clientSecretHash: row.1, name: row.2, uri: row.3, icon: row.4,
                redirectURIs: Self.strings(row.5) ?? [], tokenEndpointAuthMethod: row.6 ?? "client_secret_basic",
                applicationType: row.7, grantTypes: Self.strings(row.8) ?? [], responseTypes: Self.strings(row.9) ?? [],
                scopes: row.10.flatMap(Self.strings), disabled: row.11, skipConsent: row.12, discoveryId: row.13,
                createdAt: row.14)
        }
        return nil
    }

    /// Stores a new client (dynamic registration) or replaces the metadata of one known by its
    /// metadata document, keeping what an operator set on it.
    func save(_ client: OAuthClient, metadata: String? = nil, now: Date = Date()) async throws {
        let redirects = Self.json(client.redirectURIs)
        let grants = Self.json(client.grantTypes)
        let responses = Self.json(client.responseTypes)
        let scopes = client.scopes.map(Self.json)
        try await postgres.query(
            """
            INSERT INTO "oauthClient" ("id", "clientId", "clientSecret", "clientDiscoveryId", "disabled", "scopes",
                "createdAt", "updatedAt", "name", "uri", "icon", "redirectUris", "tokenEndpointAuthMethod",
                "applicationType", "grantTypes", "responseTypes", "requirePKCE", "metadata")
            VALUES (\(AuthID.make()), \(client.clientId), \(client.clientSecretHash), \(client.discoveryId), false,
                \(scopes)::jsonb, \(now), \(now), \(client.name), \(client.uri), \(client.icon), \(redirects)::jsonb,
                \(client.tokenEndpointAuthMethod), \(client.applicationType), \(grants)::jsonb, \(responses)::jsonb,
                true, \(metadata)::jsonb)
            ON CONFLICT ("clientId") DO UPDATE SET "name" = excluded."name", "uri" = excluded."uri",
                "icon" = excluded."icon", "redirectUris" = excluded."redirectUris",
                "tokenEndpointAuthMethod" = excluded."tokenEndpointAuthMethod",
                "applicationType" = excluded."applicationType", "grantTypes" = excluded."grantTypes",
                "responseTypes" = excluded."responseTypes", "updatedAt" = excluded."updatedAt"
            WHERE "oauthClient"."clientDiscoveryId" = excluded."clientDiscoveryId"
            """, logger: logger)
    }

    /// Links a client to the resources its tokens may be for (`oauthClientResource`).
    func link(clientId: String, resource: String, now: Date = Date()) async throws {
        try await postgres.query(
            """
            INSERT INTO "oauthClientResource" ("id", "clientId", "resourceId", "createdAt")
            VALUES (\(AuthID.make()), \(clientId), \(resource), \(now))
            ON CONFLICT ("clientId", "resourceId") DO NOTHING
            """, logger: logger)
    }

    /// Registers the MCP endpoint as a resource (`oauthResource`), once.
    func seed(resource: String, name: String, now: Date = Date()) async throws {
        try await postgres.query(
            """
            INSERT INTO "oauthResource" ("id", "identifier", "name", "createdAt", "updatedAt")
            VALUES (\(AuthID.make()), \(resource), \(name), \(now), \(now))
            ON CONFLICT ("identifier") DO NOTHING
            """, logger: logger)
    }

    /// Deletes dynamically registered clients created before `cutoff` that nobody ever
    /// authorized (no consent and no refresh token); returns how many.
    func deleteUnused(registeredBefore cutoff: Date) async throws -> Int {
        let rows = try await postgres.query(
            """
            WITH gone AS (
                DELETE FROM "oauthClient" c
                WHERE c."createdAt" < \(cutoff) AND c."metadata" @> '{"registration":"dynamic"}'::jsonb
                  AND NOT EXISTS (SELECT 1 FROM "oauthConsent" o WHERE o."clientId" = c."clientId")
                  AND NOT EXISTS (SELECT 1 FROM "oauthRefreshToken" r WHERE r."clientId" = c."clientId")
                RETURNING 1)
            SELECT count(*)::int FROM gone
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    static func strings(_ json: String) -> [String]? {
        try? JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    static func json(_ strings: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(strings)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
