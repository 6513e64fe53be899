import Configuration
import Foundation
import SystemPackage

/// The process's configuration variables: the environment first, then a `.env` file in the
/// working directory (the usual dotenv precedence: a real environment variable wins).
///
/// Read once at start-up into typed structs; nothing else in the program reads the environment.
public struct Environment: Sendable {
    private let process: ConfigReader
    private let file: ConfigReader?

    /// Names whose values are redacted wherever swift-configuration describes its providers.
    static let secretNames: Set<String> = [
        "DATABASE_URL", "REDIS_URL", "BETTER_AUTH_SECRET", "JWT_SECRET", "ENCRYPTION_KEY",
        "ENCRYPTION_KEY_PREVIOUS", "GITHUB_CLIENT_SECRET", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_CLIENT_SECRET",
        "GITHUB_WEBHOOK_SECRET", "LINEAR_CLIENT_SECRET", "LINEAR_WEBHOOK_SECRET",
        "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "ANTHROPIC_API_KEY",
    ]

    /// Loads the process environment and, if present, `dotEnvPath`.
    public static func load(dotEnvPath: String = ".env") async throws(ConfigurationError) -> Environment {
        let secrets = SecretsSpecifier<String, String>.specific(secretNames)
        let process = EnvironmentVariablesProvider(secretsSpecifier: secrets)
        do {
            let file = try await EnvironmentVariablesProvider(
                environmentFilePath: FilePath(dotEnvPath), allowMissing: true, secretsSpecifier: secrets)
            return Environment(process: ConfigReader(provider: process), file: ConfigReader(provider: file))
        } catch {
            throw ConfigurationError(dotEnvPath, "could not be read as a KEY=value file")
        }
    }

    /// A fixed set of variables (tests, subcommands).
    public init(_ values: [String: String]) {
        self.process = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values))
        self.file = nil
    }

    private init(process: ConfigReader, file: ConfigReader?) {
        self.process = process
        self.file = file
    }

    /// The trimmed value, or nil when unset or blank.
    public func string(_ name: String) -> String? {
        let key = ConfigKey(name)
        guard let raw = process.string(forKey: key) ?? file?.string(forKey: key).map(Self.unquoted) else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// `KEY="value"` and `KEY='value'` in a `.env` file mean `value`, as dotenv and Docker
    /// Compose read them (swift-configuration keeps the quotes).
    static func unquoted(_ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.count >= 2, let first = trimmed.first, first == "\"" || first == "'", trimmed.last == first else {
            return value
        }
        return String(trimmed.dropFirst().dropLast())
    }

    public func required(_ name: String, hint: String) throws(ConfigurationError) -> String {
        guard let value = string(name) else { throw ConfigurationError(name, "is required: \(hint)") }
        return value
    }

    /// A secret of at least `minLength` characters.
    public func secret(_ name: String, minLength: Int, hint: String) throws(ConfigurationError) -> String {
        let value = try required(name, hint: hint)
        guard value.count >= minLength else {
            throw ConfigurationError(name, "must be at least \(minLength) characters (it has \(value.count)): \(hint)")
        }
        return value
    }

    public func int(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let raw = string(name) else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// An absolute http(s) URL without query or fragment; trailing slashes are dropped so
    /// paths can be appended.
    public func httpURL(_ name: String, default fallback: String) throws(ConfigurationError) -> String {
        let value = string(name) ?? fallback
        guard let components = URLComponents(string: value),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else {
            throw ConfigurationError(
                name, "must be an absolute http:// or https:// URL without query (for example \(fallback))")
        }
        var trimmed = value
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// A comma-separated list, blanks dropped.
    public func list(_ name: String) -> [String] {
        guard let raw = string(name) else { return [] }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
