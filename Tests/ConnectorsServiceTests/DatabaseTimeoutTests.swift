import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import TestSupport

@testable import ConnectorsService

/// PostgreSQL cannot hold a request forever: with a lock held elsewhere, the list query waits
/// only `DATABASE_STATEMENT_TIMEOUT_MS` before the server cancels it, the caller gets 503
/// `DATABASE_TIMEOUT`, and once the lock goes the same pooled connections serve again.
@Suite struct DatabaseTimeoutTests {
    @Test func aStatementPastTheTimeoutIs503AndThePoolRecovers() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        // One pooled connection, so recovering means that very connection serves again.
        let overrides = [
            "DATABASE_STATEMENT_TIMEOUT_MS": "300", "CONNECTION_LIST_CACHE_SECONDS": "0", "DATABASE_POOL_SIZE": "1",
        ]
        try await jwks.withApp(overrides: overrides) { app, client in
            let bearer = issuer.token(sub: "user-1")
            #expect(try await client.get("/oauth/connections", bearer: bearer).status == .ok)
            try await app.sql { sql in
                try await sql.withConnection { holder in
                    let logger = Logger(label: "lock-holder")
                    try await holder.query("BEGIN", logger: logger)
                    try await holder.query(#"LOCK TABLE "connection" IN ACCESS EXCLUSIVE MODE"#, logger: logger)
                    let started = ContinuousClock.now
                    let refused = try await client.get("/oauth/connections", bearer: bearer)
                    let waited = ContinuousClock.now - started
                    try await holder.query("ROLLBACK", logger: logger)
                    #expect(refused.status == .serviceUnavailable)
                    #expect(refused.json["code"] as? String == "DATABASE_TIMEOUT")
                    #expect(refused.headers[.retryAfter] == "1")
                    // Bounded: 300 ms plus a busy machine's slack, far below a lock held for good.
                    #expect(waited < .seconds(30), "the request waited \(waited)")
                }
            }
            #expect(try await client.get("/oauth/connections", bearer: bearer).status == .ok)
        }
    }
}
