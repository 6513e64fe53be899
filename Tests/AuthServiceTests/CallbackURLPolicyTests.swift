import Shared
import Testing

@testable import AuthService

/// Open-redirect attempts that a lenient parser lets through: each is a different host to a
/// browser (WHATWG URL parsing) than to Foundation's `URLComponents`, or turns protocol-relative.
@Suite struct CallbackURLPolicyTests {
    let policy = CallbackURLPolicy(trustedOrigins: [
        "https://connectors.test", "https://app.connectors.test", "http://localhost:5173",
    ])

    @Test func acceptsRelativePathsAndTrustedOrigins() {
        for url in [
            "/", "/dashboard", "/dashboard?tab=1#top", "/@me", "/café", "https://connectors.test",
            "https://connectors.test/x?y=1",
            "HTTPS://Connectors.Test/x", "https://connectors.test:443/x", "https://app.connectors.test/home",
            "http://localhost:5173/",
        ] {
            #expect(policy.isAllowed(url), "\(url)")
        }
    }

    @Test func refusesEveryWayOffTheTrustedOrigins() {
        let attacks = [
            "https://evil.example/", "//evil.example", "/\\evil.example", "///evil.example",
            // A browser reads "\" as "/": host evil.example; URLComponents sees user info and host connectors.test.
            "https://evil.example\\@connectors.test/", "https://evil.example\\\\@connectors.test/",
            // User info: harmless when the host is ours, but no reason to accept it.
            "https://evil.example@connectors.test/", "https://user:pass@connectors.test/",
            // Tabs and newlines are dropped by browsers: "//evil.example".
            "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", " /evil",
            "https://connectors.test\t.evil.example/",
            // Decoded once more by a server in between: "//evil.example" or "/\evil.example".
            "/%2F%2Fevil.example", "/%2fevil.example", "/%5Cevil.example",
            "https:evil.example", "https:/evil.example", "https:///connectors.test", "javascript:alert(1)",
            "data:text/html,x",
            "http://connectors.test/", "https://connectors.test:8443/", "https://connectors.test.evil.example/",
            "dashboard", "",
        ]
        for url in attacks {
            #expect(!policy.isAllowed(url), "\(url.debugDescription)")
        }
    }

    @Test func checkAnswersInvalidCallbackURLNamingTheField() throws {
        #expect(throws: Never.self) { try policy.check(nil) }
        do {
            try policy.check("https://evil.example\\@connectors.test/", field: "errorCallbackURL")
            Issue.record("accepted")
        } catch let error as AppError {
            #expect(error.code == "INVALID_CALLBACK_URL")
            #expect(error.message == "Invalid errorCallbackURL")
        }
    }
}
