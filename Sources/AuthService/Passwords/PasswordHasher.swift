import Crypto
import CryptoExtras
import Foundation
import Shared

/// Better Auth's password hashes: scrypt (N=16384, r=16, p=1, 64-byte key) over the
/// NFKC-normalised password, stored as `hex(salt):hex(key)` where the 32-character hex salt
/// *string* is itself the scrypt salt. Hashes imported from Better Auth verify unchanged.
///
/// scrypt takes ~32 MiB and up to a few hundred milliseconds of CPU, so it runs on its own
/// bounded, low-priority threads (`HashingPool`), never on an event loop: while people sign in,
/// request handling still gets the CPU first, and past the pool's queue callers get 503.
struct PasswordHasher: Sendable {
    let pool: HashingPool

    init(pool: HashingPool = HashingPool()) {
        self.pool = pool
    }

    func hash(_ password: String) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let key = try await derive(password, salt: salt)
        return "\(salt):\(Hex.encode(key))"
    }

    /// True when `password` matches `stored`; false for a wrong password or a malformed hash.
    func verify(_ password: String, against stored: String) async throws -> Bool {
        let parts = stored.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let expected = Hex.decode(String(parts[1])), expected.count == 64 else { return false }
        let key = try await derive(password, salt: String(parts[0]))
        return ConstantTime.equals(key, expected)
    }

    /// Burns the same work as a real verification; used for unknown emails so that sign-in
    /// takes as long whether or not the account exists.
    func verifyDummy(_ password: String) async throws {
        _ = try await verify(password, against: Self.dummyHash)
    }

    private static let dummyHash = "00000000000000000000000000000000:" + String(repeating: "00", count: 64)

    private func derive(_ password: String, salt: String) async throws -> [UInt8] {
        let normalised = Array(password.precomposedStringWithCompatibilityMapping.utf8)
        let saltBytes = Array(salt.utf8)
        return try await pool.run {
            let key = try KDF.Scrypt.deriveKey(
                from: normalised, salt: saltBytes, outputByteCount: 64, rounds: 16384, blockSize: 16, parallelism: 1)
            return key.withUnsafeBytes { Array($0) }
        }
    }
}
