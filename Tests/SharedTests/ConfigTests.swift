import NIOCore
import Testing

@testable import Shared

@Suite struct ConfigTests {
    let base: [String: String] = [
        "DATABASE_URL": "postgresql://app:secret@db.internal:5433/connectors",
        "REDIS_URL": "redis://:pw@cache.internal:6380/3",
    ]

    func common(_ overrides: [String: String?] = [:]) throws(ConfigurationError) -> CommonConfig {
        var values = base
        for (key, value) in overrides { values[key] = value }
        return try CommonConfig(ConfigValues(values), portVariable: "AUTH_PORT", defaultPort: 5001)
    }

    func failure(_ overrides: [String: String?]) -> ConfigurationError? {
        do {
            _ = try common(overrides)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesTheURLsAndDefaults() throws {
        let config = try common()
        #expect(
            config.database
                == DatabaseURL(
                    host: "db.internal", port: 5433, username: "app", password: "secret", database: "connectors"))
        #expect(config.redis == RedisURL(host: "cache.internal", port: 6380, password: "pw", database: 3))
        #expect(config.publicURL == "https://localhost")
        #expect(config.trustedOrigins == ["https://localhost"])
        #expect(config.port == 5001)
        #expect(config.databasePoolSize == 20)
        #expect(config.providers.githubAPI == "https://api.github.com")
        #expect(config.providers.slackAPI == "https://slack.com/api")
    }

    @Test func trustsPublicOriginAndListedOriginsNormalised() throws {
        let config = try common([
            "PUBLIC_URL": "https://Example.COM:443/",
            "TRUSTED_ORIGINS": "http://localhost:3000, https://app.example.com",
        ])
        #expect(config.publicURL == "https://Example.COM:443")
        #expect(config.publicOrigin == "https://example.com")
        #expect(config.trustedOrigins == ["https://example.com", "http://localhost:3000", "https://app.example.com"])
    }

    @Test func namesTheVariableThatIsMissingOrMalformed() {
        #expect(failure(["DATABASE_URL": nil])?.variable == "DATABASE_URL")
        #expect(failure(["DATABASE_URL": "mysql://x@y/z"])?.variable == "DATABASE_URL")
        #expect(failure(["DATABASE_URL": "postgresql://db.internal/connectors"])?.problem.contains("user") == true)
        #expect(failure(["DATABASE_URL": "postgresql://u@db.internal"])?.problem.contains("database") == true)
        #expect(failure(["REDIS_URL": nil])?.variable == "REDIS_URL")
        #expect(failure(["REDIS_URL": "http://cache"])?.variable == "REDIS_URL")
        #expect(failure(["REDIS_URL": "redis://cache/x"])?.variable == "REDIS_URL")
        #expect(failure(["PUBLIC_URL": "localhost"])?.variable == "PUBLIC_URL")
        #expect(failure(["PUBLIC_URL": "ftp://x"])?.variable == "PUBLIC_URL")
        #expect(failure(["TRUSTED_ORIGINS": "https://ok.example, not an origin"])?.variable == "TRUSTED_ORIGINS")
        #expect(failure(["TRUSTED_PROXIES": "10.0.0.0/33"])?.variable == "TRUSTED_PROXIES")
        #expect(failure(["AUTH_PORT": "70000"])?.variable == "AUTH_PORT")
        #expect(failure(["DATABASE_POOL_SIZE": "0"])?.variable == "DATABASE_POOL_SIZE")
        #expect(failure(["DATABASE_POOL_SIZE": "many"])?.variable == "DATABASE_POOL_SIZE")
        #expect(failure(["GITHUB_API_URL": "not a url"])?.variable == "GITHUB_API_URL")
        #expect(failure(["LOG_LEVEL": "loud"])?.variable == "LOG_LEVEL")
    }

    @Test func errorsAreOneLineAndNeverCarryTheValue() {
        let error = failure(["DATABASE_URL": "mysql://user:hunter2@host/db"])
        #expect(error?.description.contains("\n") == false)
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.description.hasPrefix("configuration error: DATABASE_URL ") == true)
    }

    @Test func secretsHaveAMinimumLength() throws {
        let env = ConfigValues(["S": "short"])
        #expect(throws: ConfigurationError.self) { try env.secret("S", minLength: 32, hint: "") }
        #expect(throws: ConfigurationError.self) { try env.secret("MISSING", minLength: 32, hint: "") }
        #expect(
            try ConfigValues(["S": String(repeating: "x", count: 32)]).secret("S", minLength: 32, hint: "").count == 32)
    }
}

@Suite struct ClientIPTests {
    let middleware = ClientIPResolver(trustedProxies: CIDR.defaultTrustedProxies)

    @Test func usesThePeerWhenItIsNotAProxy() {
        #expect(middleware.clientIP(peer: "203.0.113.9", forwardedFor: ["198.51.100.1"]) == "203.0.113.9")
    }

    @Test func believesForwardedForFromATrustedProxy() {
        #expect(middleware.clientIP(peer: "10.0.0.2", forwardedFor: ["198.51.100.1"]) == "198.51.100.1")
        #expect(middleware.clientIP(peer: "::1", forwardedFor: ["2001:db8::7"]) == "2001:db8::7")
    }

    @Test func skipsTrustedHopsAndIgnoresWhatTheClientPrepended() {
        // The client sent "X-Forwarded-For: 1.2.3.4"; the proxies appended the real address.
        #expect(
            middleware.clientIP(peer: "127.0.0.1", forwardedFor: ["1.2.3.4, 198.51.100.1, 10.0.0.5"]) == "198.51.100.1")
        #expect(middleware.clientIP(peer: "127.0.0.1", forwardedFor: ["1.2.3.4", "198.51.100.1"]) == "198.51.100.1")
    }

    @Test func trimsOnlyHTTPWhitespaceAroundHops() {
        #expect(
            middleware.clientIP(peer: "127.0.0.1", forwardedFor: [" \t198.51.100.1 \t,10.0.0.5 "]) == "198.51.100.1")
        #expect(" \t a b\t ".trimmingOptionalWhitespace == "a b")
        #expect(" \t ".trimmingOptionalWhitespace == "")
        // Not HTTP's optional whitespace (RFC 9110 §5.6.3): kept, so the hop does not parse.
        #expect("\u{00A0}198.51.100.1".trimmingOptionalWhitespace == "\u{00A0}198.51.100.1")
        #expect(middleware.clientIP(peer: "127.0.0.1", forwardedFor: ["\u{00A0}198.51.100.1"]) == "127.0.0.1")
    }

    @Test func fallsBackToThePeerWithoutAUsableHeader() {
        #expect(middleware.clientIP(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
        #expect(middleware.clientIP(peer: "127.0.0.1", forwardedFor: ["garbage"]) == "127.0.0.1")
    }

    @Test func matchesCIDRsIncludingMappedIPv4() {
        let net = CIDR("172.16.0.0/12")!
        #expect(net.contains(IPAddressBytes.parse("172.31.255.255")!))
        #expect(!net.contains(IPAddressBytes.parse("172.32.0.0")!))
        #expect(net.contains(IPAddressBytes.parse("::ffff:172.16.0.1")!))
        #expect(CIDR("fc00::/7")!.contains(IPAddressBytes.parse("fd12::1")!))
        #expect(CIDR("nonsense") == nil)
        #expect(CIDR("10.1.2.3/32")!.contains(IPAddressBytes.parse("10.1.2.3")!))
        #expect(!CIDR("10.1.2.3/32")!.contains(IPAddressBytes.parse("10.1.2.4")!))
        #expect(CIDR("0.0.0.0/0")!.contains(IPAddressBytes.parse("203.0.113.9")!))
        #expect(!CIDR("::1/128")!.contains(IPAddressBytes.parse("127.0.0.1")!))
    }

    /// The per-request path takes the peer's socket address: the same answers as from its text.
    @Test func socketPeersGiveTheSameAnswers() throws {
        let peers = ["203.0.113.9", "10.0.0.2", "127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::7"]
        let headers: [[String]] = [[], ["198.51.100.1"], ["1.2.3.4, 198.51.100.1, 10.0.0.5"], ["garbage"]]
        for peer in peers {
            let address = try SocketAddress(ipAddress: peer, port: 443)
            for forwardedFor in headers {
                #expect(
                    middleware.clientIP(peer: address, forwardedFor: forwardedFor)
                        == middleware.clientIP(peer: peer, forwardedFor: forwardedFor), "\(peer) \(forwardedFor)")
            }
        }
        #expect(
            middleware.clientIP(peer: try SocketAddress(ipAddress: "10.0.0.2", port: 1), forwardedFor: []) == "10.0.0.2"
        )
        #expect(IPAddressBytes.dottedQuad([1, 20, 255, 0]) == "1.20.255.0")
        #expect(
            middleware.clientIP(peer: try SocketAddress(ipAddress: "1.20.255.0", port: 1), forwardedFor: [])
                == "1.20.255.0")
        #expect(middleware.clientIP(peer: SocketAddress?.none, forwardedFor: ["198.51.100.1"]) == "unknown")
        #expect(
            middleware.clientIP(peer: try SocketAddress(unixDomainSocketPath: "/tmp/s"), forwardedFor: []) == "unknown")
    }
}
