import Foundation
import PostgresNIO
import Testing
import TestSupport

/// The `ConnectorsService` executable as operators run it.
@Suite struct ConnectorsServiceProcessTests {
    let binary = ServiceBinary("ConnectorsService")
    /// A valid App key, so the App's OAuth variables are what the check reaches.
    static let appKeyPEM = try! FakeGitHubApp(setupURL: "").privateKeyPEM

    @Test func servesHealthAndExitsZeroOnSIGTERM() async throws {
        try await ServiceProcessChecks.servesAndStopsOnSIGTERM(binary, portVariable: "CONNECTORS_PORT")
    }

    @Test func migrateAppliesMigrations() async throws {
        try await ServiceProcessChecks.migrateSubcommand(binary)
    }

    @Test func exportAuditPrintsJSONLinesSinceADate() async throws {
        let database = try await TestDatabase.create(migrated: true)
        try await TestDatabase.withClient(database) { sql in
            try await sql.query(
                """
                INSERT INTO "auditEvent" ("at", "userId", "surface", "action", "tool", "outcome") VALUES
                    ('2025-06-01T00:00:00Z', 'u1', 'api', 'tool.call', 'github_comment', 'ok'),
                    ('2026-02-01T00:00:00Z', 'u1', 'slack', 'approval.denied', 'slack_post_message', 'denied'),
                    ('2026-03-01T00:00:00Z', 'u2', 'mcp', 'tool.call', 'linear_search_issues', 'ok')
                """)
        }
        let variables = TestConfig.variables(database: database, redis: try TestServers.redisURL())
        let (status, output) = try await binary.run(["export-audit", "--since", "2026-01-01"], environment: variables)
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("{") }
        let events = lines.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.map { $0["action"] as? String } == ["approval.denied", "tool.call"])
        #expect(events.map { $0["userId"] as? String } == ["u1", "u2"])
        #expect(events.first?["at"] as? String == "2026-02-01T00:00:00.000Z")
        let refused = try await binary.run(["export-audit", "--since", "last week"], environment: variables)
        #expect(refused.status != 0)
        #expect(refused.output.contains("--since"))
    }

    @Test(arguments: [
        (["DATABASE_URL": ""], "DATABASE_URL"),
        (["REDIS_URL": "redis://cache/not-a-number"], "REDIS_URL"),
        (["JWT_SECRET": ""], "JWT_SECRET"),
        (["JWT_SECRET": "short"], "JWT_SECRET"),
        (["JWT_SECRET": TestConfig.betterAuthSecret], "JWT_SECRET"),
        (["ENCRYPTION_KEY": ""], "ENCRYPTION_KEY"),
        (["ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef0"], "ENCRYPTION_KEY"),
        (["ENCRYPTION_KEY_PREVIOUS": "0123456789abcdef0123456789abcdef,nope"], "ENCRYPTION_KEY_PREVIOUS"),
        (["AUTH_JWKS_URL": "jwks.json"], "AUTH_JWKS_URL"),
        (["SLACK_API_URL": "ftp://slack"], "SLACK_API_URL"),
        (["LINEAR_CLIENT_ID": "lin"], "LINEAR_CLIENT_SECRET"),
        (["LINEAR_CLIENT_ID": "lin", "LINEAR_CLIENT_SECRET": "secret", "LINEAR_ACTOR": "robot"], "LINEAR_ACTOR"),
        (["SLACK_CLIENT_SECRET": "secret"], "SLACK_CLIENT_ID"),
        // The operator's bot is not for every user who signs up: it needs its list of users.
        (["SLACK_BOT_TOKEN": "xoxb-1"], "SLACK_BOT_USERS"),
        (["SLACK_BOT_TOKEN": "xoxb-1", "SLACK_BOT_USERS": "ops@example.com,not-an-email"], "SLACK_BOT_USERS"),
        (["GITHUB_APP_NAME": "app"], "GITHUB_APP_ID"),
        (["GITHUB_APP_NAME": "app", "GITHUB_APP_ID": "12ab", "GITHUB_APP_PRIVATE_KEY": "x"], "GITHUB_APP_ID"),
        (
            [
                "GITHUB_APP_NAME": "app", "GITHUB_APP_ID": "12",
                "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\\nnope",
            ], "GITHUB_APP_PRIVATE_KEY"
        ),
        (
            [
                "GITHUB_APP_NAME": "app", "GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": appKeyPEM,
                "GITHUB_APP_CLIENT_ID": "Iv1.x",
            ], "GITHUB_APP_CLIENT_SECRET"
        ),
    ])
    func badConfigurationExits78WithOneLine(overrides: [String: String], variable: String) async throws {
        try await ServiceProcessChecks.rejectsBadConfiguration(binary, overrides: overrides, variable: variable)
    }
}
