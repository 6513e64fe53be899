import Foundation

/// `REDIS_URL` parsed: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    public init(parsing value: String, variable: String = "REDIS_URL") throws(ConfigurationError) {
        let hint = "expected redis://[:password@]host:port[/db]"
        guard let url = URLComponents(string: value), url.scheme == "redis",
            let host = url.host, !host.isEmpty
        else { throw ConfigurationError(variable, "is not a valid Redis URL: \(hint)") }
        if url.scheme == "rediss" {
            throw ConfigurationError(variable, "uses TLS (rediss://), which is not supported: \(hint)")
        }
        var database = 0
        let path = url.path.drop(while: { $0 == "/" })
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else {
                throw ConfigurationError(variable, "has a database that is not a number: \(hint)")
            }
            database = number
        }
        let user = url.user?.removingPercentEncoding
        self.init(
            host: host, port: url.port ?? 6379,
            username: (user?.isEmpty ?? true) ? nil : user,
            password: url.password?.removingPercentEncoding,
            database: database)
    }
}
