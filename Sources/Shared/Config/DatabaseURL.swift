import Foundation

/// `DATABASE_URL` parsed: `postgresql://user:pass@host:port/db[?sslmode=disable|prefer|require]`.
public struct DatabaseURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String, tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    public init(parsing value: String, variable: String = "DATABASE_URL") throws(ConfigurationError) {
        let hint = "expected postgresql://user:pass@host:port/db"
        guard let url = URLComponents(string: value),
            let scheme = url.scheme, scheme == "postgres" || scheme == "postgresql",
            let host = url.host, !host.isEmpty
        else { throw ConfigurationError(variable, "is not a valid PostgreSQL URL: \(hint)") }
        guard let user = url.user, !user.isEmpty else {
            throw ConfigurationError(variable, "has no user name: \(hint)")
        }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigurationError(variable, "has no database name: \(hint)")
        }
        var tls = TLSMode.disable
        if let mode = url.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw ConfigurationError(variable, "has an unsupported sslmode (use disable, prefer or require)")
            }
            tls = parsed
        }
        self.init(
            host: host, port: url.port ?? 5432,
            username: url.user?.removingPercentEncoding ?? user,
            password: url.password?.removingPercentEncoding,
            database: database.removingPercentEncoding ?? database, tls: tls)
    }
}
