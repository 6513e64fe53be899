import Testing
import TestSupport

/// The `AuthService` executable as operators run it.
@Suite struct AuthServiceProcessTests {
    let binary = ServiceBinary("AuthService")

    @Test func servesHealthAndExitsZeroOnSIGTERM() async throws {
        try await ServiceProcessChecks.servesAndStopsOnSIGTERM(binary, portVariable: "AUTH_PORT")
    }

    @Test func migrateAppliesMigrations() async throws {
        try await ServiceProcessChecks.migrateSubcommand(binary)
    }

    @Test(arguments: [
        (["DATABASE_URL": ""], "DATABASE_URL"),
        (["DATABASE_URL": "postgresql://nobody@/nodb"], "DATABASE_URL"),
        (["REDIS_URL": "localhost:6379"], "REDIS_URL"),
        (["BETTER_AUTH_SECRET": ""], "BETTER_AUTH_SECRET"),
        (["BETTER_AUTH_SECRET": "too-short"], "BETTER_AUTH_SECRET"),
        (["PUBLIC_URL": "not a url"], "PUBLIC_URL"),
        (["AUTH_PORT": "http"], "AUTH_PORT"),
        (["TRUSTED_PROXIES": "10.0.0.0/99"], "TRUSTED_PROXIES"),
    ])
    func badConfigurationExits78WithOneLine(overrides: [String: String], variable: String) async throws {
        try await ServiceProcessChecks.rejectsBadConfiguration(binary, overrides: overrides, variable: variable)
    }
}
