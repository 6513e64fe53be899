import Configuration
import Foundation
import SystemPackage

/// The process's configuration variables, through swift-configuration: the environment first,
/// then a `.env` file in the working directory (the usual dotenv precedence — one `ConfigReader`
/// over both providers, the first that has a key wins). Secrets are marked where they are read
/// (`isSecret`, and `secret(_:)`), so swift-configuration redacts them wherever it reports.
///
/// Read once at start-up into typed structs; nothing else in the program reads the environment.
public struct ConfigValues: Sendable {
    private let reader: ConfigReader
    /// The process environment alone: values from the `.env` file have dotenv's quotes removed.
    private let process: ConfigReader?

    /// Loads the process environment and, if present, `dotEnvPath`.
    public static func load(dotEnvPath: String = ".env") async throws(ConfigurationError) -> ConfigValues {
        let process = EnvironmentVariablesProvider()
        do {
            let file = try await EnvironmentVariablesProvider(
                environmentFilePath: FilePath(dotEnvPath), allowMissing: true)
            return ConfigValues(
                reader: ConfigReader(providers: [process, file]), process: ConfigReader(provider: process))
        } catch {
            throw ConfigurationError(dotEnvPath, "could not be read as a KEY=value file")
        }
    }

    /// A fixed set of variables (tests, subcommands).
    public init(_ values: [String: String]) {
        self.reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values))
        self.process = nil
    }

    private init(reader: ConfigReader, process: ConfigReader?) {
        self.reader = reader
        self.process = process
    }

    /// The trimmed value, or nil when unset or blank.
    public func string(_ name: String, isSecret: Bool = false) -> String? {
        let key = ConfigKey(name)
        guard var raw = reader.string(forKey: key, isSecret: isSecret) else { return nil }
        if let process, process.string(forKey: key, isSecret: isSecret) == nil { raw = Self.unquoted(raw) }
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

    public func required(_ name: String, hint: String, isSecret: Bool = false) throws(ConfigurationError) -> String {
        guard let value = string(name, isSecret: isSecret) else {
            throw ConfigurationError(name, "is required: \(hint)")
        }
        return value
    }

    /// A secret of at least `minLength` characters.
    public func secret(_ name: String, minLength: Int, hint: String) throws(ConfigurationError) -> String {
        let value = try required(name, hint: hint, isSecret: true)
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

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    public func bool(_ name: String, default fallback: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = string(name)?.lowercased() else { return fallback }
        switch raw {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw ConfigurationError(name, "must be true or false")
        }
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
    public func list(_ name: String, isSecret: Bool = false) -> [String] {
        guard let raw = string(name, isSecret: isSecret) else { return [] }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
