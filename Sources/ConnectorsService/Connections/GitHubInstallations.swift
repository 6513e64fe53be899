import DB
import Logging
import PostgresNIO
import Shared

/// Keeps GitHub connections in line with what GitHub says of their installations. An
/// `installation` webhook is a hint, never the fact: GitHub signs the body but not the
/// `X-GitHub-Event` header nor a time, so a captured delivery of any `*.deleted` event could be
/// replayed as `installation` to revoke someone's connections. Every change here follows
/// `GET /app/installations/{id}` (App JWT); an hourly reconciliation heals lost deliveries.
struct GitHubInstallations: Sendable {
    let github: GitHubAppProvider
    let connections: ConnectionRepository
    let postgres: Postgres
    let logger: Logger

    static let uninstalledReason = "The GitHub App was uninstalled from this account; connect GitHub again."
    /// Also the mark that lets an unsuspension restore exactly the connections it took away.
    static let suspendedReason =
        "GitHub suspended the App's installation on this account; it acts again once unsuspended."

    /// Asks GitHub about `installation` and applies the answer: uninstalled or suspended revokes
    /// its connections, live restores those a suspension revoked. Returns GitHub's answer.
    @discardableResult
    func sync(_ installation: String, actor: String) async throws -> GitHubAppProvider.InstallationState {
        let state = try await github.installationState(installation)
        let changed: Int
        switch state {
        case .gone:
            changed = try await connections.setStatus(
                provider: .github, accountId: installation, .revoked, reason: Self.uninstalledReason,
                superseding: [Self.suspendedReason], actor: actor)
        case .suspended:
            // Only connections that can act: one already waiting to be connected again keeps its
            // own reason, so the unsuspension (which restores what the suspension took) leaves it.
            changed = try await connections.setStatus(
                provider: .github, accountId: installation, .revoked, reason: Self.suspendedReason, onlyActive: true,
                actor: actor)
        case .live:
            changed = try await connections.reactivate(
                provider: .github, accountId: installation, revokedFor: Self.suspendedReason, actor: actor)
        }
        if changed > 0 {
            logger.info(
                "GitHub installation state applied",
                metadata: ["installation": "\(installation)", "state": "\(state)", "connections": "\(changed)"])
        }
        return state
    }

    /// Syncs every installation with a connection that can act, or that a suspension holds.
    /// An installation GitHub cannot be asked about now is left for the next round.
    func reconcile() async throws -> (checked: Int, failed: Int) {
        let rows = try await postgres.query(
            """
            SELECT DISTINCT "accountId" FROM "connection"
            WHERE "provider" = 'github' AND ("status" = 'active' OR "statusReason" = \(Self.suspendedReason))
            """, logger: logger)
        var installations = [String]()
        for try await id in rows.decode(String.self) { installations.append(id) }
        var failed = 0
        for installation in installations {
            do {
                try await sync(installation, actor: "github reconciliation")
            } catch {
                failed += 1
                logger.warning(
                    "could not check a GitHub installation",
                    metadata: ["installation": "\(installation)", "error": "\(error)"])
            }
        }
        return (installations.count, failed)
    }
}
