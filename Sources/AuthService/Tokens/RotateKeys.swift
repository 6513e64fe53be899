import DB
import Logging
import PostgresNIO
import Shared

/// `AuthService rotate-keys`: adds a signing key. Older keys stay published until a token they
/// may still sign has expired: the new key starts signing after one cache period, the last
/// token of the old key lives `jwtLifetime` beyond that, and verifiers may cache the JWKS one
/// more period.
func rotateSigningKeys(_ config: AuthConfig, logger: Logger) async throws -> String {
    let postgres = Database.client(config.common.database, logger: logger, maximumConnections: 2)
    return try await withThrowingTaskGroup(of: String?.self) { group in
        group.addTask {
            await postgres.run()
            return nil
        }
        defer { group.cancelAll() }
        let repository = SigningKeyRepository(
            postgres: Postgres(postgres), vault: KeyVault(secret: config.betterAuthSecret), logger: logger)
        try await repository.ensureKey()
        return try await repository.rotate(retireAfter: config.jwksCachePeriod * 2 + config.jwtLifetime)
    }
}
