import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// Provider tokens at rest: bound to their row, and re-sealable under a new key.
@Suite struct TokenAtRestTests {
    static let newKey = "fedcba9876543210fedcba9876543210"

    func withLinear<T: Sendable>(
        _ body: @Sendable (ConnectorsTestApp, Browser, FakeLinear, TestTokenIssuer) async throws -> T
    ) async throws -> T {
        let linear = FakeLinear()
        return try await withProviderFake(
            linear.router,
            overrides: { url in
                [
                    "LINEAR_CLIENT_ID": linear.clientID, "LINEAR_CLIENT_SECRET": linear.clientSecret, "LINEAR_URL": url,
                    "LINEAR_API_URL": url,
                ]
            }
        ) { app, client, issuer, url in try await body(app, Browser(client: client, fakeURL: url), linear, issuer) }
    }

    /// The same app's database and providers under other key settings.
    func rekeyed(_ app: ConnectorsTestApp, previous: String?) throws -> ConnectorsTestApp {
        var config = app.config
        let previousKeys = try previous.map { [try SecretBox.Key(configured: $0)] } ?? []
        config.secretBox = SecretBox(current: try SecretBox.Key(configured: Self.newKey), previous: previousKeys)
        return ConnectorsTestApp(database: app.database, config: config)
    }

    @Test func aCiphertextCopiedToAnotherRowDoesNotOpen() async throws {
        try await withLinear { app, browser, _, issuer in
            let first = try #require(
                try await browser.connectAndLink("linear", bearer: issuer.token(sub: "user-1"))["id"] as? String)
            let second = try #require(
                try await browser.connectAndLink("linear", bearer: issuer.token(sub: "user-2"))["id"] as? String)
            #expect(try await app.withTokens { try await $0.accessToken(connectionId: second) }.hasPrefix("lin_oauth_"))
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "connection" SET "accessToken" = (SELECT "accessToken" FROM "connection" WHERE "id" = \#(first)) WHERE "id" = \#(second)"#
                )
            }
            await #expect(throws: SecretBoxError.authenticationFailed) {
                try await app.withTokens { try await $0.accessToken(connectionId: second) }
            }
        }
    }

    @Test func rotatingTheKeyThenReencryptingKeepsConnectionsWorking() async throws {
        try await withLinear { app, browser, linear, issuer in
            let id = try #require(
                try await browser.connectAndLink("linear", bearer: issuer.token(sub: "user-1"))["id"] as? String)
            // A second flow left unclaimed: its pending link is re-sealed too.
            _ = try await browser.connect("linear", bearer: issuer.token(sub: "user-2"))
            let token = try await app.withTokens { try await $0.accessToken(connectionId: id) }

            // New key, old one kept as previous: still opens.
            let rotated = try rekeyed(app, previous: TestConfig.encryptionKey)
            #expect(try await rotated.withTokens { try await $0.accessToken(connectionId: id) } == token)
            // Without the old key nothing opens yet.
            await #expect(throws: SecretBoxError.self) {
                try await rekeyed(app, previous: nil).withTokens { try await $0.accessToken(connectionId: id) }
            }

            // The operator's command, as deployed.
            let variables = TestConfig.variables(
                database: app.database, redis: try TestServers.redisURL(),
                overrides: [
                    "ENCRYPTION_KEY": Self.newKey, "ENCRYPTION_KEY_PREVIOUS": TestConfig.encryptionKey,
                ])
            let binary = ServiceBinary("ConnectorsService")
            let run = try await binary.run(["reencrypt"], environment: variables)
            #expect(run.status == 0, "\(run.output)")
            // Connection: access + refresh; pending link: access + refresh.
            #expect(run.output.contains("re-encrypted 4 values"), "\(run.output)")
            let again = try await binary.run(["reencrypt"], environment: variables)
            #expect(
                again.output.contains("re-encrypted 0 values") && again.output.contains("4 were already under it"),
                "\(again.output)")

            // Now the old key can go.
            let withoutOld = try rekeyed(app, previous: nil)
            #expect(try await withoutOld.withTokens { try await $0.accessToken(connectionId: id) } == token)
            let keyIDs = try await app.sql { sql in
                var ids = Set<String>()
                for try await (access, refresh) in try await sql.query(
                    #"SELECT "accessToken", "refreshToken" FROM "connection" UNION ALL SELECT "accessToken", "refreshToken" FROM "pendingLink""#
                ).decode((String?, String?).self) {
                    for value in [access, refresh].compactMap({ $0 }) { ids.insert(SecretBox.keyID(of: value) ?? "?") }
                }
                return ids
            }
            #expect(keyIDs == [try SecretBox.Key(configured: Self.newKey).id])
            #expect(linear.refreshes.get() == 0)
        }
    }
}
