import DB
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// GitHub installation events are checked with GitHub (App JWT) before a connection changes,
/// and a reconciliation heals what deliveries missed.
@Suite struct GitHubInstallationTests {
    func withGitHub<T: Sendable>(
        _ body: @Sendable (ConnectorsTestApp, any TestClientProtocol, FakeGitHubApp) async throws -> T
    ) async throws -> T {
        try await withGitHubApp(
            variables: ["GITHUB_WEBHOOK_SECRET": WebhookTests.githubSecret],
            configure: { WebhookWorkerTests.fastSettings(&$0.webhookWorker) }
        ) { app, browser, github, _ in try await body(app, browser.client, github) }
    }

    func statuses(_ app: ConnectorsTestApp) async throws -> [String: String] {
        try await app.sql { sql in
            var map = [String: String]()
            for try await (id, status, reason) in try await sql.query(
                #"SELECT "id", "status", "statusReason" FROM "connection""#
            ).decode((String, String, String?).self) { map[id] = status + (reason.map { " (\($0))" } ?? "") }
            return map
        }
    }

    /// Delivers a signed GitHub event and waits for the worker to finish it; returns its status.
    func deliver(_ app: ConnectorsTestApp, _ client: any TestClientProtocol, event: String, body: String)
        async throws -> String
    {
        let delivery = UUID().uuidString
        #expect(try await WebhookTests.gitHubPost(client, event, body, delivery: delivery).status == .ok)
        let final = SendableBox("")
        try await eventually(timeout: .seconds(60), "event \(delivery) handled") {
            let status = try await app.sql { sql in
                for try await status in try await sql.query(
                    #"SELECT "status" FROM "webhookEvent" WHERE "deliveryKey" = \#(delivery)"#
                ).decode(String.self) { return status }
                return "missing"
            }
            final.set(status)
            return ["done", "skipped", "failed"].contains(status)
        }
        return final.get()
    }

    /// GitHub signs the body, not `X-GitHub-Event`: a captured, genuinely signed
    /// `issue_comment.deleted` delivery replayed as `installation` reads as "installation
    /// deleted". GitHub says the installation is live, so nothing changes.
    @Test func aSignedCommentDeletionReplayedAsAnInstallationEventChangesNothing() async throws {
        try await withGitHub { app, client, github in
            try await app.insertUser("user-3")
            let connection = try await app.insertConnection(
                userId: "user-3", provider: .github, accountId: github.installationID)
            let commentDeleted = """
                {"action":"deleted","comment":{"id":1,"body":"typo"},"issue":{"number":7},\
                "repository":{"full_name":"acme-org/app"},"installation":{"id":\(github.installationID)}}
                """
            #expect(try await deliver(app, client, event: "installation", body: commentDeleted) == "skipped")
            #expect(try await statuses(app) == [connection: "active"])
            let reason = try await app.sql { sql in
                for try await reason in try await sql.query(#"SELECT "lastError" FROM "webhookEvent""#).decode(
                    String?.self)
                { return reason }
                return nil
            }
            #expect(reason?.contains("is live") == true)
            // Claimed by the lifecycle loop, not behind agent runs.
            let lane = try await app.sql { sql in
                for try await lane in try await sql.query(#"SELECT "lane" FROM "webhookEvent""#).decode(String.self) {
                    return lane
                }
                return ""
            }
            #expect(lane == "lifecycle")
        }
    }

    /// A real uninstall, a suspension and its end, each confirmed with GitHub; a connection
    /// revoked for another reason is not brought back by an unsuspension.
    @Test func confirmedEventsRevokeAndRestore() async throws {
        try await withGitHub { app, client, github in
            try await app.insertUser("user-3")
            try await app.insertUser("user-4")
            github.installationStates.set(["9002": "live", "9003": "live"])
            let uninstalled = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9001")
            let suspended = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9002")
            let revokedBefore = try await app.insertConnection(
                userId: "user-4", provider: .github, accountId: "9002", accessToken: "other")
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "connection" SET "status" = 'revoked', "statusReason" = 'revoked by its user' WHERE "id" = \#(revokedBefore)"#
                )
            }
            let untouched = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9003")
            // Its token refused before the suspension: an unsuspension must not make it active.
            try await app.insertUser("user-5")
            let dead = try await app.insertConnection(
                userId: "user-5", provider: .github, accountId: "9002", accessToken: "dead")
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "connection" SET "status" = 'reauth_required', "statusReason" = 'GitHub refused' WHERE "id" = \#(dead)"#
                )
            }

            #expect(
                try await deliver(
                    app, client, event: "installation", body: #"{"action":"deleted","installation":{"id":9001}}"#)
                    == "done")
            github.installationStates.update { $0["9002"] = "suspended" }
            #expect(
                try await deliver(
                    app, client, event: "installation", body: #"{"action":"suspend","installation":{"id":9002}}"#)
                    == "done")
            var now = try await statuses(app)
            #expect(now[uninstalled] == "revoked (\(GitHubInstallations.uninstalledReason))")
            #expect(now[suspended] == "revoked (\(GitHubInstallations.suspendedReason))")
            #expect(now[revokedBefore] == "revoked (revoked by its user)")
            #expect(now[untouched] == "active")

            github.installationStates.update { $0["9002"] = "live" }
            #expect(
                try await deliver(
                    app, client, event: "installation", body: #"{"action":"unsuspend","installation":{"id":9002}}"#)
                    == "done")
            now = try await statuses(app)
            #expect(now[suspended] == "active")
            #expect(now[revokedBefore] == "revoked (revoked by its user)")
            #expect(now[dead] == "reauth_required (GitHub refused)")
            let audited = try await app.sql { sql in
                var rows = [String]()
                for try await (action, actor) in try await sql.query(
                    #"SELECT "action", "actor" FROM "auditEvent" WHERE "userId" = 'user-3' ORDER BY "id""#
                ).decode((String, String).self) { rows.append("\(action) by \(actor)") }
                return rows
            }
            #expect(
                audited == [
                    "connection.revoked by github installation.deleted webhook",
                    "connection.revoked by github installation.suspend webhook",
                    "connection.reactivated by github installation.unsuspend webhook",
                ])
        }
    }

    /// Someone revokes the App's authorization in their GitHub settings: their connections stop
    /// acting once GitHub confirms their tokens are dead, and no one else's change.
    @Test func aRevokedAuthorizationEndsThatPersonsConnectionsOnceGitHubConfirms() async throws {
        try await withGitHub { app, client, github in
            try await app.insertUser("user-3")
            try await app.insertUser("user-4")
            // GitHub no longer knows this token: its owner revoked the App.
            let theirs = try await app.insertConnection(
                userId: "user-3", provider: .github, accountId: "9001", accessToken: "gh-revoked",
                providerUserId: String(github.userID))
            let someoneElses = try await app.insertConnection(
                userId: "user-4", provider: .github, accountId: "9001", accessToken: "gh-other", providerUserId: "777")
            #expect(
                try await deliver(
                    app, client, event: "github_app_authorization",
                    body: #"{"action":"revoked","sender":{"id":\#(github.userID),"login":"mona"}}"#) == "done")
            let now = try await statuses(app)
            #expect(now[theirs] == "revoked (\(GitHubAuthorizationHandler.reason))")
            #expect(now[someoneElses] == "active")
            // A person with no connection here: nothing to do.
            #expect(
                try await deliver(
                    app, client, event: "github_app_authorization",
                    body: #"{"action":"revoked","sender":{"id":424242424,"login":"nobody"}}"#) == "skipped")
            #expect(try await statuses(app)[someoneElses] == "active")
        }
    }

    /// Deliveries lost: the reconciliation finds what GitHub says and applies it.
    @Test func reconciliationHealsLostDeliveries() async throws {
        try await withGitHub { app, client, github in
            try await app.insertUser("user-3")
            github.installationStates.set(["9002": "suspended", "9004": "live", "9005": "live"])
            let gone = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9001")
            let suspended = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9002")
            let unsuspended = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9004")
            let live = try await app.insertConnection(userId: "user-3", provider: .github, accountId: "9005")
            try await app.sql { sql in
                try await sql.query(
                    #"UPDATE "connection" SET "status" = 'revoked', "statusReason" = \#(GitHubInstallations.suspendedReason) WHERE "id" = \#(unsuspended)"#
                )
            }
            let config = app.config
            try await app.withConnections { connections, postgres, _, logger in
                let installations = GitHubInstallations(
                    github: try #require(testProviders(config, logger: logger).provider(.github) as? GitHubAppProvider),
                    connections: connections, postgres: Postgres(postgres), logger: logger)
                let result = try await installations.reconcile()
                #expect(result.checked == 4 && result.failed == 0)
                let now = try await statuses(app)
                #expect(now[gone] == "revoked (\(GitHubInstallations.uninstalledReason))")
                #expect(now[suspended] == "revoked (\(GitHubInstallations.suspendedReason))")
                #expect(now[unsuspended] == "active")
                #expect(now[live] == "active")
                // Again: the uninstalled one is no longer asked about; the suspended one still is.
                #expect(try await installations.reconcile().checked == 3)
            }
            _ = client
        }
    }
}
