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

    /// Every pooled connection busy (here the only one, its statement waiting on a lock held
    /// elsewhere): a second request waits `DATABASE_POOL_WAIT_MS` for a connection, not for ever,
    /// and answers 503 `DATABASE_BUSY`; the first is unharmed and answers once the lock goes.
    @Test func aRequestThatFindsNoFreeConnectionIs503AfterTheWaitBound() async throws {
        let issuer = try TestTokenIssuer()
        let jwks = FakeJWKS(issuer: issuer)
        let overrides = [
            // The one connection is shared with the worker's and resumer's polls: a wait bound
            // with room for a busy machine, still far below the statement timeout.
            "DATABASE_STATEMENT_TIMEOUT_MS": "120000", "DATABASE_POOL_WAIT_MS": "2000",
            "CONNECTION_LIST_CACHE_SECONDS": "0", "DATABASE_POOL_SIZE": "1",
        ]
        try await jwks.withApp(overrides: overrides) { app, client in
            let bearer = issuer.token(sub: "user-1")
            let other = issuer.token(sub: "user-2")
            try await eventually("the service answers") {
                try await client.get("/oauth/connections", bearer: bearer).status == .ok
            }
            try await app.sql { sql in
                try await sql.withConnection { holder in
                    let logger = Logger(label: "lock-holder")
                    try await holder.query("BEGIN", logger: logger)
                    try await holder.query(#"LOCK TABLE "connection" IN ACCESS EXCLUSIVE MODE"#, logger: logger)
                    // The first request takes the pool's only connection and waits on the lock.
                    async let first = withOwnConnection(to: client) {
                        try await $0.get("/oauth/connections", bearer: bearer)
                    }
                    try await eventually("the first request waits on the lock") {
                        try await sql.query(
                            #"SELECT count(*)::int FROM pg_stat_activity WHERE "wait_event_type" = 'Lock' AND "query" LIKE '%connection%' AND "datname" = current_database() AND pid <> pg_backend_pid()"#
                        ).decode(Int.self).reduce(0, +) >= 1
                    }
                    let started = ContinuousClock.now
                    let refused = try await withOwnConnection(to: client) {
                        try await $0.get("/oauth/connections", bearer: other)
                    }
                    let waited = ContinuousClock.now - started
                    #expect(refused.status == .serviceUnavailable)
                    #expect(refused.json["code"] as? String == "DATABASE_BUSY")
                    #expect(refused.headers[.retryAfter] == "1")
                    // Refused by the wait bound, not by the 120-second statement timeout.
                    #expect(waited < .seconds(60), "the request waited \(waited)")
                    try await holder.query("ROLLBACK", logger: logger)
                    #expect(try await first.status == .ok)
                }
            }
            try await eventually("the pool serves again") {
                try await client.get("/oauth/connections", bearer: other).status == .ok
            }
        }
    }
}
