import Shared
import Testing

@testable import AuthService

@Suite struct PasswordHasherTests {
    // The hashing threads are shared with every suite running at once: production's 10 s bound
    // on waiting for one would refuse these hashes as TOO_BUSY on a loaded machine.
    let hasher = PasswordHasher(
        pool: HashingPool(limits: HashingPool.Limits(maxWaiting: 100_000, maxWait: .seconds(3600))))

    /// A hash in Better Auth's stored format (from the issue), verified as Better Auth would.
    @Test func verifiesABetterAuthHash() async throws {
        let stored =
            "0f1e2d3c4b5a69788796a5b4c3d2e1f0:ce0a7f7f79cc59b12da1aad85312903aec34216177c1f787b73ffa7cd06379b70e5dba27e21302e5e413460e920aaee30ae13db40516854baf1eff56c90edda7"
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

    /// scrypt yields the CPU to request handling without starving: its threads run under
    /// SCHED_BATCH at nice 5 (not SCHED_IDLE, which gets nothing while other work is runnable).
    @Test func hashesOnBatchThreadsAtNiceFive() async throws {
        #expect(hasher.pool.threads === HashingPool.sharedThreads)
        let settings = try await withThrowingTaskGroup(of: [Int32].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await hasher.pool.run {
                        [ThreadScheduling.currentThreadPolicy(), ThreadScheduling.currentThreadNiceness()]
                    }
                }
            }
            return try await group.reduce(into: Set<[Int32]>()) { $0.insert($1) }
        }
        #expect(settings == [[ThreadScheduling.batchPolicy, HashingPool.niceness]])
        // The caller's own thread is untouched.
        #expect(ThreadScheduling.currentThreadPolicy() == 0)
        #expect(ThreadScheduling.currentThreadNiceness() == 0)
    }
}
