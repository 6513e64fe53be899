import DB
import Logging
import PostgresNIO
import Shared

/// Gives a provider grant back when nothing here will use it: a deleted connection's token, a
/// callback's new token that could not be stored, a pending link nobody claimed. Where the
/// provider can revoke (Linear, Slack, GitHub user tokens) it is revoked — unless the token is
/// the provider account's one shared token (a Slack workspace's bot token) and a connection, or
/// another pending link, to that account still holds it.
struct GrantRevoker: Sendable {
    let providers: ProviderRegistry
    let postgres: Postgres
    let sealer: TokenSealer
    let logger: Logger

    /// Revokes `sealed` (the token of connection or pending link `id`).
    func revoke(sealed: String?, id: String, provider: ProviderID, accountId: String, why: String) async {
        do {
            guard let token = try sealer.open(sealed, id: id, provider: provider) else { return }
            await revoke(token, provider: provider, accountId: accountId, why: why)
        } catch {
            logger.warning("could not open a token to revoke it", metadata: ["id": "\(id)", "why": "\(why)"])
        }
    }

    func revoke(_ token: String, provider id: ProviderID, accountId: String, why: String) async {
        guard let provider = providers.provider(id) else { return }
        if provider.tokenIsSharedByTheAccount {
            do {
                guard try await !stillHeld(provider: id, accountId: accountId) else { return }
            } catch {
                // Unknown whether another connection holds it: keep it rather than cut them off.
                logger.warning(
                    "kept a shared token: could not check who holds it",
                    metadata: ["provider": "\(id.rawValue)", "error": "\(error)"])
                return
            }
        }
        await provider.revoke(accessToken: token)
        logger.info("revoked a provider grant", metadata: ["provider": "\(id.rawValue)", "why": "\(why)"])
    }

    /// An active connection or an unexpired pending link to the account.
    private func stillHeld(provider: ProviderID, accountId: String) async throws -> Bool {
        let rows = try await postgres.query(
            """
            SELECT EXISTS (SELECT 1 FROM "connection" WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId) AND "status" = 'active')
                OR EXISTS (SELECT 1 FROM "pendingLink" WHERE "provider" = \(provider.rawValue) AND "accountId" = \(accountId) AND "linkExpiresAt" > now())
            """, logger: logger)
        for try await held in rows.decode(Bool.self) { return held }
        return false
    }
}
