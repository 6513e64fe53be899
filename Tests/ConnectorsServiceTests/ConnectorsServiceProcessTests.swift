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
