import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// The two services together: a JWT from the real auth service's `/token` opens the
/// connectors API, and keeps opening it while the auth service is down.
@Suite struct WithAuthServiceTests {
    @Test func aTokenFromTheAuthServiceWorksAndKeepsWorkingWhileItIsDown() async throws {
        let database = try await TestDatabase.create(migrated: true)
        let redis = try TestServers.redisURL()
        let authPort = try FreePort.next()
        let auth = try ServiceBinary("AuthService").start(
            environment: TestConfig.variables(
                database: database, redis: redis, overrides: ["AUTH_PORT": String(authPort)]))
        defer { auth.stop() }
        try await ServiceBinary.waitForHealth(port: authPort, process: auth)

        // Sign up and get a JWT, as the web console does. A patient client: a sign-up hashes a
        // password (scrypt), which a loaded machine can stretch past the default 15 s.
        let (token, userID) = try await TestClient.withClient(
            host: "127.0.0.1", port: authPort, configuration: .init(timeout: .seconds(60))
        ) { client in
            let signUp = try await client.post(
                "/api/auth/sign-up/email", headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"Ada","email":"ada@example.com","password":"correct-horse-9"}"#))
            #expect(signUp.status == .ok)
            let session = try #require(signUp.headers[.setAuthToken])
            let minted = try await client.get("/api/auth/token", headers: [.authorization: "Bearer \(session)"])
            #expect(minted.status == .ok)
            let body =
                try JSONSerialization.jsonObject(with: Data((minted.body ?? ByteBuffer()).readableBytesView))
                as? [String: Any]
            let user =
                try JSONSerialization.jsonObject(with: Data((signUp.body ?? ByteBuffer()).readableBytesView))
                as? [String: Any]
            return (
                try #require(body?["token"] as? String),
                try #require((user?["user"] as? [String: Any])?["id"] as? String)
            )
        }

        var config = try ConnectorsConfig(
            TestConfig.environment(
                database: database, redis: redis,
                overrides: [
                    "AUTH_JWKS_URL": "http://127.0.0.1:\(authPort)/.well-known/jwks.json"
                ]))
        config.userLimit.name += "-" + RandomToken.string(length: 8)
        let app = ConnectorsTestApp(database: database, config: config)
        try await app.insertConnection(userId: userID)
        try await app.test { client in
            let listed = try await client.get("/oauth/connections", bearer: token)
            #expect(listed.status == .ok)
            #expect((listed.json["connections"] as? [[String: Any]])?.count == 1)

            auth.signal(SIGTERM)
            _ = try await auth.waitForExit(timeout: .seconds(60))
            #expect(try await client.get("/oauth/connections", bearer: token).status == .ok)
            // A tampered token still fails, of course.
            #expect(try await client.get("/oauth/connections", bearer: token + "x").status == .unauthorized)
        }
    }
}

extension HTTPField.Name {
    static let setAuthToken = Self("set-auth-token")!
}
