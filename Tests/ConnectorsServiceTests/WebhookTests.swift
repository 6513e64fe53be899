import DB
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// The three webhook receivers: signatures over raw bytes (made by independent code), replay
/// windows, deduplication, and nothing stored for anything refused.
@Suite struct WebhookTests {
    static let slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
    static let linearSecret = "lin_wh_secret_0123456789abcdef"
    static let githubSecret = "It's a Secret to Everybody"
    static let secrets = [
        "SLACK_SIGNING_SECRET": slackSecret, "LINEAR_WEBHOOK_SECRET": linearSecret,
        "GITHUB_WEBHOOK_SECRET": githubSecret,
    ]

    func withApp<T: Sendable>(
        overrides: [String: String] = secrets,
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let app = try await ConnectorsTestApp.make(overrides: overrides)
        return try await app.test { client in try await body(app, client) }
    }

    func eventCount(_ app: ConnectorsTestApp) async throws -> Int {
        try await app.sql { sql in
            for try await count in try await sql.query(#"SELECT count(*)::int FROM "webhookEvent""#).decode(Int.self) {
                return count
            }
            return -1
        }
    }

    func slackPost(
        _ client: any TestClientProtocol, body: String, timestamp: String?, signature: String?, retry: Int? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let timestamp { headers[.slackTimestamp] = timestamp }
        if let signature { headers[.slackSignature] = signature }
        if let retry { headers[HTTPField.Name("X-Slack-Retry-Num")!] = String(retry) }
        return try await client.execute(
            uri: "/slack/events", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func slackEvent(id: String = "Ev0PV52K21") -> String {
        #"{"token":"x","team_id":"T0ACME","api_app_id":"A0APP","event":{"type":"app_mention","user":"U0HUMAN","text":"<@U0BOT> hi","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"},"type":"event_callback","event_id":"\#(id)","event_time":1700000000}"#
    }

    /// Slack's documented example, checked by the verifier itself.
    @Test func nulEscapesAreFoundOverBytes() {
        let cases: [(String, Bool)] = [
            ("", false), (#"{"a":"\u000"}"#, false), (#"{"a":"\u0000"}"#, true), (#"\u00\u0000"#, true),
            (#"\\u0000"#, true), (#"é\u0001"#, false), (#"u0000"#, false),
        ]
        for (json, expected) in cases {
            #expect(WebhookEventRepository.hasNullEscape(json) == expected, "\(json)")
        }
    }

    /// The headers alone refuse what could never verify, before the body is read.
    @Test func signatureShapesAreCheckedBeforeTheBody() throws {
        let now = Date()
        let fresh = String(Int(now.timeIntervalSince1970))
        let slack = SlackSignature(secret: Self.slackSecret)
        try slack.precheck(timestamp: fresh, signature: "v0=" + String(repeating: "aB", count: 32), now: now)
        for (timestamp, signature, reason) in [
            (fresh, nil, WebhookRejection.missingSignature),
            (nil, "v0=" + String(repeating: "a", count: 64), .missingTimestamp),
            (String(Int(now.timeIntervalSince1970) - 301), "v0=" + String(repeating: "a", count: 64), .staleTimestamp),
            (fresh, "v0=" + String(repeating: "a", count: 63), .badSignature),
            (fresh, "v0=" + String(repeating: "g", count: 64), .badSignature),
            (fresh, "v1=" + String(repeating: "a", count: 64), .badSignature),
        ] as [(String?, String?, WebhookRejection)] {
            #expect(throws: reason) { try slack.precheck(timestamp: timestamp, signature: signature, now: now) }
        }
        #expect(throws: WebhookRejection.secretNotConfigured) {
            try SlackSignature(secret: nil).precheck(
                timestamp: fresh, signature: "v0=" + String(repeating: "a", count: 64))
        }
        let github = GitHubSignature(secret: Self.githubSecret)
        try github.precheck(signature: "sha256=" + String(repeating: "0", count: 64))
        #expect(throws: WebhookRejection.badSignature) {
            try github.precheck(signature: "sha1=" + String(repeating: "0", count: 40))
        }
        let linear = LinearSignature(secret: Self.linearSecret)
        try linear.precheck(signature: String(repeating: "f", count: 64))
        #expect(throws: WebhookRejection.badSignature) { try linear.precheck(signature: "not-hex") }
    }

    /// A source that keeps failing signatures has its failures answered 429 for the lockout's
    /// window — but a delivery that verifies is still taken: providers send from shared
    /// addresses, where anyone can point a webhook with a wrong secret at this service.
    @Test func aSourceThatKeepsFailingSignaturesIsLockedOutButRealDeliveriesStillArrive() async throws {
        try await withApp(overrides: Self.secrets.merging(["WEBHOOK_FAILURE_THRESHOLD": "3"]) { $1 }) { app, client in
            func signed(_ id: String) async throws -> TestResponse {
                let timestamp = String(Int(Date().timeIntervalSince1970))
                let body = Self.slackEvent(id: id)
                let signature =
                    "v0="
                    + HMACSigner.sha256Hex(secret: Self.slackSecret, message: Array("v0:\(timestamp):\(body)".utf8))
                return try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
            }
            #expect(try await signed("EvBefore").status == .ok)
            let fresh = String(Int(Date().timeIntervalSince1970))
            // Three failures of different kinds: a forged signature, no signature, a bad GitHub one.
            #expect(
                try await slackPost(
                    client, body: Self.slackEvent(id: "EvForged"), timestamp: fresh,
                    signature: "v0=" + String(repeating: "0", count: 64)
                ).status == .unauthorized)
            #expect(
                try await slackPost(client, body: Self.slackEvent(id: "EvBare"), timestamp: fresh, signature: nil)
                    .status
                    == .unauthorized)
            #expect(
                try await Self.gitHubPost(client, "issues", #"{"action":"opened"}"#, delivery: "g-x", secret: "nope")
                    .status == .unauthorized)
            let refused = try await slackPost(
                client, body: Self.slackEvent(id: "EvForgedAgain"), timestamp: fresh,
                signature: "v0=" + String(repeating: "1", count: 64))
            #expect(refused.status == .tooManyRequests)
            #expect(refused.errorCode == "TOO_MANY_FAILED_SIGNATURES")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 > 500)
            #expect(try await signed("EvAfter").status == .ok)
            let stored = try await app.sql { sql in
                var keys = [String]()
                for try await key in try await sql.query(#"SELECT "deliveryKey" FROM "webhookEvent""#).decode(
                    String.self)
                { keys.append(key) }
                return keys
            }
            #expect(Set(stored) == ["EvBefore", "EvAfter"])
        }
    }

    /// Slack's notice that it is holding back the app's events is signed like an event but has
    /// no event id: answered 200 (a refusal would count against the subscription), not stored.
    @Test func slacksRateLimitNoticeIsAnsweredAndStoresNothing() async throws {
        try await withApp(overrides: Self.secrets) { app, client in
            let body =
                #"{"token":"t","type":"app_rate_limited","team_id":"T0ACME","minute_rate_limited":1518467820,"api_app_id":"A0APP"}"#
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature =
                "v0=" + HMACSigner.sha256Hex(secret: Self.slackSecret, message: Array("v0:\(timestamp):\(body)".utf8))
            let response = try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
            #expect(response.status == .ok)
            let stored = try await app.sql { sql in
                try await sql.query(#"SELECT count(*)::int FROM "webhookEvent""#).collect().first?.decode(Int.self)
            }
            #expect(stored == 0)
        }
    }

    @Test func slacksDocumentedExampleVerifies() throws {
        let body = Array(
            "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
                .utf8)
        let verifier = SlackSignature(secret: Self.slackSecret)
        let at = Date(timeIntervalSince1970: 1_531_420_618)
        try verifier.verify(
            body: body, timestamp: "1531420618",
            signature: "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", now: at)
        #expect(throws: WebhookRejection.staleTimestamp) {
            try verifier.verify(
                body: body, timestamp: "1531420618",
                signature: "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                now: at.addingTimeInterval(301))
        }
    }

    /// GitHub's documented example.
    @Test func gitHubsDocumentedExampleVerifies() throws {
        let verifier = GitHubSignature(secret: Self.githubSecret)
        try verifier.verify(
            body: Array("Hello, World!".utf8),
            signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        #expect(throws: WebhookRejection.badSignature) {
            try verifier.verify(
                body: Array("Hello, World?".utf8),
                signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        }
    }

    @Test func slackEventsSignedBySlackSDKAreStoredOnceAcrossRetries() async throws {
        try await withApp { app, client in
            let body = Self.slackEvent()
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = try await SlackSDK.signature(
                secret: Self.slackSecret, timestamp: timestamp, body: Data(body.utf8))
            #expect(signature.hasPrefix("v0="))
            let first = try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
            #expect(first.status == .ok)
            for retry in 1...3 {
                #expect(
                    try await slackPost(client, body: body, timestamp: timestamp, signature: signature, retry: retry)
                        .status == .ok)
            }
            #expect(try await eventCount(app) == 1)
            // One row, and the worker runs its handler once (agent requests are recorded as skipped for now).
            try await eventually("the event processed") {
                try await app.sql { sql in
                    for try await status in try await sql.query(#"SELECT "status" FROM "webhookEvent""#).decode(
                        String.self)
                    { return status == "skipped" }
                    return false
                }
            }
            let stored = try await app.sql { sql in
                for try await (provider, key, type, attempts) in try await sql.query(
                    #"SELECT "provider", "deliveryKey", "eventType", "attempts" FROM "webhookEvent""#
                ).decode((String, String, String, Int).self) {
                    return [provider, key, type, String(attempts)]
                }
                return []
            }
            #expect(stored == ["slack", "Ev0PV52K21", "app_mention", "1"])
        }
    }

    /// A kind no handler takes is recorded `skipped` as it is stored: answered like any other,
    /// deduplicated, and never claimed by the worker (no attempt counted).
    @Test func anEventNoHandlerTakesIsStoredSkippedWithoutAWorkerAttempt() async throws {
        try await withApp { app, client in
            let body =
                #"{"token":"x","team_id":"T0ACME","api_app_id":"A0APP","event":{"type":"reaction_added","user":"U0HUMAN","reaction":"thumbsup","event_ts":"1700000000.000200"},"type":"event_callback","event_id":"Ev0REACT1","event_time":1700000000}"#
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = try await SlackSDK.signature(
                secret: Self.slackSecret, timestamp: timestamp, body: Data(body.utf8))
            #expect(try await slackPost(client, body: body, timestamp: timestamp, signature: signature).status == .ok)
            #expect(
                try await slackPost(client, body: body, timestamp: timestamp, signature: signature, retry: 1).status
                    == .ok)
            let stored = try await app.sql { sql in
                for try await (type, status, attempts, error, processed) in try await sql.query(
                    #"SELECT "eventType", "status", "attempts", "lastError", "processedAt" IS NOT NULL FROM "webhookEvent""#
                ).decode((String, String, Int, String?, Bool).self) {
                    return [type, status, String(attempts), error ?? "-", String(processed)]
                }
                return []
            }
            #expect(stored == ["reaction_added", "skipped", "0", "no handler for slack reaction_added", "true"])
            #expect(try await eventCount(app) == 1)
        }
    }

    @Test func slackURLVerificationEchoesTheChallengeOnlyWhenSigned() async throws {
        try await withApp { app, client in
            let body =
                #"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = try await SlackSDK.signature(
                secret: Self.slackSecret, timestamp: timestamp, body: Data(body.utf8))
            let answer = try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
            #expect(answer.status == .ok)
            #expect(answer.json["challenge"] as? String == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
            #expect(
                try await slackPost(client, body: body, timestamp: timestamp, signature: nil).status == .unauthorized)
            #expect(try await eventCount(app) == 0)
        }
    }

    @Test func forgedStaleAndAlteredSlackDeliveriesAre401AndStoreNothing() async throws {
        try await withApp { app, client in
            let body = Self.slackEvent()
            // Stale and future sit an hour beyond the 5-minute window, so they stay outside it
            // however long the signing (Python) and the requests take on a loaded machine.
            let now = Int(Date().timeIntervalSince1970)
            func signed(_ timestamp: Int, secret: String = Self.slackSecret, body: String = Self.slackEvent())
                async throws -> String
            {
                try await SlackSDK.signature(secret: secret, timestamp: String(timestamp), body: Data(body.utf8))
            }
            let good = try await signed(now)
            let altered = String(body.dropLast()) + " }"
            let cases: [(String, String, String?, String?)] = [
                ("no signature", body, String(now), nil),
                ("no timestamp", body, nil, good),
                ("forged", body, String(now), "v0=" + String(repeating: "ab", count: 32)),
                ("truncated", body, String(now), String(good.dropLast(2))),
                ("wrong secret", body, String(now), try await signed(now, secret: "another-signing-secret-0000000000")),
                ("wrong scheme", body, String(now), "v1=" + good.dropFirst(3)),
                ("stale", body, String(now - 3600), try await signed(now - 3600)),
                ("future", body, String(now + 3600), try await signed(now + 3600)),
                ("one byte changed after signing", altered, String(now), good),
            ]
            for (name, body, timestamp, signature) in cases {
                let response = try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
                #expect(response.status == .unauthorized, "\(name)")
                #expect(response.errorCode == "INVALID_SIGNATURE", "\(name)")
            }
            #expect(try await eventCount(app) == 0)
            let metrics = try await client.execute(uri: "/metrics", method: .get).text
            #expect(
                metrics.contains(#"webhooks_rejected_total{provider="slack",reason="stale_timestamp"}"#)
                    || metrics.contains(#"webhooks_rejected_total{reason="stale_timestamp",provider="slack"}"#))
        }
    }

    @Test func aReceiverWithoutItsSecretRefusesEverything() async throws {
        try await withApp(overrides: [:]) { app, client in
            let body = Self.slackEvent()
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = try await SlackSDK.signature(
                secret: Self.slackSecret, timestamp: timestamp, body: Data(body.utf8))
            let response = try await slackPost(client, body: body, timestamp: timestamp, signature: signature)
            #expect(response.status == .unauthorized)
            #expect(response.errorCode == "WEBHOOK_NOT_CONFIGURED")
            #expect(try await eventCount(app) == 0)
        }
    }

    func linearPost(
        _ client: any TestClientProtocol, body: String, delivery: String, secret: String = linearSecret,
        event: String = "OAuthApp"
    ) async throws -> TestResponse {
        let signature = HMACSigner.sha256Hex(secret: secret, message: Array(body.utf8))
        return try await client.execute(
            uri: "/linear/events", method: .post,
            headers: [
                .contentType: "application/json", .linearSignature: signature, .linearDelivery: delivery,
                .linearEvent: event,
            ], body: ByteBuffer(string: body))
    }

    /// Cross-checks our HMAC with Python's standard library (an independent implementation).
    /// Run after the deliveries: a Python start-up can take seconds on a loaded machine, and
    /// the body's timestamp has only 60 s to reach the receiver.
    func crossCheckSignature(body: String, secret: String = linearSecret) async throws {
        let python = try await TestPython.run(
            """
            import hmac, hashlib, sys
            print(hmac.new(sys.argv[1].encode(), open("body", "rb").read(), hashlib.sha256).hexdigest())
            """, arguments: [secret], files: ["body": Data(body.utf8)])
        #expect(python == HMACSigner.sha256Hex(secret: secret, message: Array(body.utf8)))
    }

    @Test func linearDeliveriesAreVerifiedWindowedAndDeduplicated() async throws {
        try await withApp { app, client in
            // The first two deliveries follow at once: the timestamp has 60 s to arrive.
            let now = Int(Date().timeIntervalSince1970 * 1000)
            let body =
                #"{"action":"revoked","type":"OAuthApp","organizationId":"org-acme","oauthClientId":"c","webhookTimestamp":\#(now)}"#
            let first = try await linearPost(client, body: body, delivery: "d-1")
            #expect(first.status == .ok)
            #expect(try await linearPost(client, body: body, delivery: "d-1").status == .ok)
            #expect(try await eventCount(app) == 1)
            let stale = #"{"action":"revoked","type":"OAuthApp","webhookTimestamp":\#(now - 61_000)}"#
            #expect(try await linearPost(client, body: stale, delivery: "d-2").status == .unauthorized)
            #expect(
                try await linearPost(client, body: body, delivery: "d-3", secret: "wrong-secret").status
                    == .unauthorized)
            let noTimestamp = #"{"action":"revoked","type":"OAuthApp"}"#
            #expect(try await linearPost(client, body: noTimestamp, delivery: "d-4").status == .unauthorized)
            #expect(try await eventCount(app) == 1)
            let type = try await app.sql { sql in
                for try await type in try await sql.query(#"SELECT "eventType" FROM "webhookEvent""#).decode(
                    String.self)
                { return type }
                return ""
            }
            #expect(type == "OAuthApp.revoked")
            // A signed delivery of another kind, resent under an `OAuthApp` header (the header
            // is not signed), is stored as what its body says it is.
            let issue =
                #"{"action":"remove","type":"Issue","organizationId":"org-acme","webhookTimestamp":\#(now)}"#
            #expect(try await linearPost(client, body: issue, delivery: "d-5", event: "OAuthApp").status == .ok)
            let kinds = try await app.sql { sql in
                var kinds = [String]()
                for try await type in try await sql.query(
                    #"SELECT "eventType" FROM "webhookEvent" ORDER BY "id""#
                ).decode(String.self) { kinds.append(type) }
                return kinds
            }
            #expect(kinds == ["OAuthApp.revoked", "Issue.remove"])
            for signed in [body, stale, noTimestamp] { try await crossCheckSignature(body: signed) }
            try await crossCheckSignature(body: body, secret: "wrong-secret")
        }
    }

    /// A GitHub delivery of `body`, signed with `secret`, as GitHub sends it.
    static func gitHubPost(
        _ client: any TestClientProtocol, _ event: String, _ body: String, delivery: String,
        secret: String = githubSecret
    ) async throws -> TestResponse {
        let signature = "sha256=" + HMACSigner.sha256Hex(secret: secret, message: Array(body.utf8))
        return try await client.execute(
            uri: "/github/events", method: .post,
            headers: [
                .contentType: "application/json", .hubSignature256: signature, .githubEvent: event,
                .githubDelivery: delivery,
            ], body: ByteBuffer(string: body))
    }

    @Test func gitHubPingIsAnsweredEventsAreStoredBadSignaturesRefused() async throws {
        try await withApp { app, client in
            func post(_ event: String, _ body: String, delivery: String, secret: String = Self.githubSecret)
                async throws -> TestResponse
            {
                try await Self.gitHubPost(client, event, body, delivery: delivery, secret: secret)
            }
            let ping = try await post("ping", #"{"zen":"Keep it logically awesome.","hook_id":1}"#, delivery: "g-0")
            #expect(ping.status == .ok)
            #expect(try await eventCount(app) == 0)
            let deleted = #"{"action":"deleted","installation":{"id":9001,"account":{"login":"acme-org"}}}"#
            #expect(try await post("installation", deleted, delivery: "g-1").status == .ok)
            #expect(try await post("installation", deleted, delivery: "g-1").status == .ok)
            #expect(try await post("installation", deleted, delivery: "g-2", secret: "nope").status == .unauthorized)
            #expect(try await eventCount(app) == 1)
            // Without the GitHub App nothing can confirm an installation event: none is acted on.
            let status = try await app.sql { sql in
                for try await status in try await sql.query(#"SELECT "status" FROM "webhookEvent""#).decode(
                    String.self)
                { return status }
                return ""
            }
            #expect(status == "skipped")
        }
    }

    /// Concurrent deliveries are written together (group commit): 30 events each delivered three
    /// times at once are 30 rows, and within one batch a repeated key counts as stored once.
    @Test func concurrentDeliveriesAndDuplicatesAreStoredOnceEach() async throws {
        try await withApp { app, client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for n in 0..<90 {
                    group.addTask {
                        try await Self.gitHubPost(
                            client, "issues", #"{"action":"opened","issue":{"number":\#(n % 30)}}"#,
                            delivery: "c-\(n % 30)"
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.count == 90 && statuses.allSatisfy { $0 == .ok })
            #expect(try await eventCount(app) == 30)
            let stored = try await app.sql { sql in
                try await WebhookEventRepository(postgres: Postgres(sql), logger: Logger(label: "test")).insert([
                    IncomingWebhookEvent(
                        provider: .github, deliveryKey: "b-1", eventType: "issues.opened", payload: "{}"),
                    IncomingWebhookEvent(
                        provider: .github, deliveryKey: "b-1", eventType: "issues.opened", payload: "{}"),
                    IncomingWebhookEvent(provider: .slack, deliveryKey: "b-1", eventType: "message", payload: "{}"),
                    IncomingWebhookEvent(
                        provider: .github, deliveryKey: "c-1", eventType: "issues.opened", payload: "{}"),
                ])
            }
            #expect(stored == [true, false, true, false])
        }
    }

    /// JSON may carry `\u0000`; `jsonb` refuses it. Such a delivery is stored (with U+FFFD in
    /// its place) and, batched with others, fails none of them.
    @Test func aDeliveryWithAnEscapedNULIsStoredAndSpoilsNoBatch() async throws {
        try await withApp { app, client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        let title = n == 7 ? #"nul\u0000here"# : n == 8 ? #"not a nul: \\u0000"# : "plain \(n)"
                        return try await Self.gitHubPost(
                            client, "issues", #"{"action":"opened","issue":{"number":\#(n),"title":"\#(title)"}}"#,
                            delivery: "nul-\(n)"
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.count == 20 && statuses.allSatisfy { $0 == .ok })
            #expect(try await eventCount(app) == 20)
            let titles = try await app.sql { sql in
                var titles = [String: String]()
                for try await (key, title) in try await sql.query(
                    #"SELECT "deliveryKey", "payload"->'issue'->>'title' FROM "webhookEvent" WHERE "deliveryKey" IN ('nul-7', 'nul-8')"#
                ).decode((String, String).self) {
                    titles[key] = title
                }
                return titles
            }
            #expect(titles["nul-7"] == "nul\u{FFFD}here")
            #expect(titles["nul-8"] == #"not a nul: \u0000"#)
        }
    }

    @Test func bodiesOverOneMebibyteAre413() async throws {
        try await withApp { app, client in
            let big = ByteBuffer(repeating: UInt8(ascii: "a"), count: 1024 * 1024 + 1)
            let response = try await client.execute(
                uri: "/github/events", method: .post, headers: [.contentType: "application/json"], body: big)
            #expect(response.status == .contentTooLarge)
            #expect(try await eventCount(app) == 0)
        }
    }
}
