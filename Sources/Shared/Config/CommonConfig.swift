import Foundation
import Logging

/// Configuration both services read: where PostgreSQL and Redis are, who we are, whom we trust,
/// and where the providers live.
public struct CommonConfig: Sendable {
    public var database: DatabaseURL
    /// `DATABASE_POOL_SIZE`: PostgreSQL connections each process keeps open.
    public var databasePoolSize: Int
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: PostgreSQL cancels any statement of the services' own
    /// connections that runs longer (a lock wait included); the request answers 503.
    public var databaseStatementTimeout: Duration
    /// `DATABASE_POOL_WAIT_MS`: how long a request waits for a pooled connection when every one
    /// is busy before it answers 503 `DATABASE_BUSY`.
    public var databasePoolWait: Duration
    public var redis: RedisURL
    /// `PUBLIC_URL` without a trailing slash, e.g. `https://localhost`.
    public var publicURL: String
    /// The scheme://host[:port] of `PUBLIC_URL`.
    public var publicOrigin: String
    /// Cookies get `Secure` and the `__Secure-` prefix when the public URL is https.
    public var secureCookies: Bool { publicURL.lowercased().hasPrefix("https://") }
    /// Origins allowed for CORS with credentials and cookie-bearing writes (always holds `publicOrigin`).
    public var trustedOrigins: Set<String>
    public var trustedProxies: [CIDR]
    public var host: String
    public var port: Int
    public var logLevel: Logger.Level
    public var providers: ProviderURLs

    /// Reads and validates the common variables; `portVariable` is `AUTH_PORT` or `CONNECTORS_PORT`.
    public init(_ env: ConfigValues, portVariable: String, defaultPort: Int) throws(ConfigurationError) {
        self.database = try DatabaseURL(
            parsing: env.required("DATABASE_URL", hint: "postgresql://user:pass@host:port/db", isSecret: true))
        self.databasePoolSize = try env.int("DATABASE_POOL_SIZE", default: 20, range: 1...500)
        self.databaseStatementTimeout = .milliseconds(
            try env.int("DATABASE_STATEMENT_TIMEOUT_MS", default: 15_000, range: 100...3_600_000))
        self.databasePoolWait = .milliseconds(
            try env.int("DATABASE_POOL_WAIT_MS", default: 5_000, range: 10...600_000))
        self.redis = try RedisURL(
            parsing: env.required("REDIS_URL", hint: "redis://[:password@]host:port[/db]", isSecret: true))
        self.publicURL = try env.httpURL("PUBLIC_URL", default: "https://localhost")
        guard let origin = Origin.normalise(publicURL) else {
            throw ConfigurationError("PUBLIC_URL", "must be an absolute http(s) URL")
        }
        self.publicOrigin = origin
        var origins: Set<String> = [origin]
        for entry in env.list("TRUSTED_ORIGINS") {
            guard let trusted = Origin.normalise(entry) else {
                throw ConfigurationError(
                    "TRUSTED_ORIGINS", "holds \"\(entry)\", which is not an origin like https://app.example.com")
            }
            origins.insert(trusted)
        }
        self.trustedOrigins = origins
        let proxies = env.list("TRUSTED_PROXIES")
        if proxies.isEmpty {
            self.trustedProxies = CIDR.defaultTrustedProxies
        } else {
            var parsed = [CIDR]()
            for entry in proxies {
                guard let cidr = CIDR(entry) else {
                    throw ConfigurationError(
                        "TRUSTED_PROXIES", "holds \"\(entry)\", which is not a CIDR like 10.0.0.0/8")
                }
                parsed.append(cidr)
            }
            self.trustedProxies = parsed
        }
        self.host = env.string("BIND_HOST") ?? "0.0.0.0"
        self.port = try env.int(portVariable, default: defaultPort, range: 0...65535)
        let level = env.string("LOG_LEVEL") ?? "info"
        guard let logLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw ConfigurationError("LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = logLevel
        self.providers = try ProviderURLs(env)
    }
}

/// Provider base URLs; tests point them at local fakes.
public struct ProviderURLs: Sendable {
    public var github: String
    public var githubAPI: String
    public var linear: String
    public var linearAPI: String
    public var slackAPI: String
    public var anthropic: String

    public init(_ env: ConfigValues) throws(ConfigurationError) {
        self.github = try env.httpURL("GITHUB_URL", default: "https://github.com")
        self.githubAPI = try env.httpURL("GITHUB_API_URL", default: "https://api.github.com")
        self.linear = try env.httpURL("LINEAR_URL", default: "https://linear.app")
        self.linearAPI = try env.httpURL("LINEAR_API_URL", default: "https://api.linear.app")
        self.slackAPI = try env.httpURL("SLACK_API_URL", default: "https://slack.com/api")
        self.anthropic = try env.httpURL("ANTHROPIC_BASE_URL", default: "https://api.anthropic.com")
    }
}

/// Web origins (RFC 6454 serialisation: lower-case scheme and host, default ports dropped).
public enum Origin {
    public static func normalise(_ value: String) -> String? {
        guard let url = URLComponents(string: value),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host?.lowercased(), !host.isEmpty
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        if let port = url.port, port != defaultPort {
            return "\(scheme)://\(host):\(port)"
        }
        return "\(scheme)://\(host)"
    }
}
