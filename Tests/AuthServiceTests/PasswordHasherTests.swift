import Shared
import Testing

@testable import AuthService

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher()

    /// A hash in Better Auth's stored format (from the issue), verified as Better Auth would.
    @Test func verifiesABetterAuthHash() async throws {
        let stored = "0f1e2d3c4b5a69788796a5b4c3d2e1f0:ce0a7f7f79cc59b12da1aad85312903aec34216177c1f787b73ffa7cd06379b70e5dba27e21302e5e413460e920aaee30ae13db40516854baf1eff56c90edda7"
        #expect(try await hasher.verify("correct horse battery staple", against: stored))
        #expect(try await !hasher.verify("correct horse battery stapl", against: stored))
    }

    @Test func hashesInBetterAuthsFormatAndVerifies() async throws {
        let stored = try await hasher.hash("s3cret password")
        let parts = stored.split(separator: ":")
        #expect(parts.count == 2)
        #expect(parts[0].count == 32 && parts[1].count == 128)
        #expect(try await hasher.verify("s3cret password", against: stored))
        #expect(try await !hasher.verify("s3cret passworD", against: stored))
        #expect(try await hasher.hash("s3cret password") != stored)
    }

    @Test func normalisesPasswordsWithNFKC() async throws {
        // "ﬁ" (U+FB01) is "fi" under NFKC.
        let stored = try await hasher.hash("\u{FB01}nancial-2024")
        #expect(try await hasher.verify("financial-2024", against: stored))
    }

    @Test func rejectsMalformedHashes() async throws {
        #expect(try await !hasher.verify("x", against: "not-a-hash"))
        #expect(try await !hasher.verify("x", against: "abcd:1234"))
    }

    /// scrypt yields the CPU to request handling: its pool's threads run under SCHED_IDLE.
    @Test func hashesOnLowPriorityThreads() async throws {
        #expect(hasher.threadPool.pool === LowPriorityThreadPool.shared.pool)
        let policies = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 { group.addTask { try await hasher.threadPool.run { ThreadScheduling.currentThreadPolicy() } } }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(policies == [ThreadScheduling.idlePolicy])
        // The caller's own thread is untouched.
        #expect(ThreadScheduling.currentThreadPolicy() == 0)
    }
}
