import Shared

/// Configuration variables for a service under test, pointing at the test servers.
public enum TestConfig {
    public static let betterAuthSecret = "test-better-auth-secret-0123456789abcdef"
    public static let jwtSecret = "test-jwt-secret-fedcba9876543210-connectors"
    public static let encryptionKey = "0123456789abcdef0123456789abcdef"

    /// Everything both services require, with `overrides` applied (an empty string removes a variable).
    public static func variables(database: DatabaseURL, redis: RedisURL, overrides: [String: String] = [:]) -> [String:
        String]
    {
        var values: [String: String] = [
            "DATABASE_URL": url(database),
            "REDIS_URL": url(redis),
            "PUBLIC_URL": "https://connectors.test",
            "TRUSTED_ORIGINS": "https://app.connectors.test",
            "BETTER_AUTH_SECRET": betterAuthSecret,
            "JWT_SECRET": jwtSecret,
            "ENCRYPTION_KEY": encryptionKey,
            "AUTH_PORT": "0",
            "CONNECTORS_PORT": "0",
            "BIND_HOST": "127.0.0.1",
            "LOG_LEVEL": "warning",
            // Tests start many services side by side; each keeps its whole pool open.
            "DATABASE_POOL_SIZE": "4",
            // A busy machine can keep a request waiting for one of those 4 connections past the
            // 5 s default; only the test of the bound itself sets a short one.
            "DATABASE_POOL_WAIT_MS": "30000",
        ]
        for (key, value) in overrides {
            values[key] = value.isEmpty ? nil : value
        }
        return values
    }

    public static func environment(database: DatabaseURL, redis: RedisURL, overrides: [String: String] = [:])
        -> ConfigValues
    {
        ConfigValues(variables(database: database, redis: redis, overrides: overrides))
    }

    public static func url(_ database: DatabaseURL) -> String {
        let auth = database.password.map { "\(database.username):\($0)" } ?? database.username
        return "postgresql://\(auth)@\(database.host):\(database.port)/\(database.database)"
    }

    public static func url(_ redis: RedisURL) -> String {
        let auth = redis.password.map { "\(redis.username ?? ""):\($0)@" } ?? ""
        return "redis://\(auth)\(redis.host):\(redis.port)/\(redis.database)"
    }
}
