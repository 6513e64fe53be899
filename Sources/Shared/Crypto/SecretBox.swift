import Crypto
import Foundation

/// AES-256-GCM sealing of secrets at rest (provider tokens).
///
/// A sealed value is `v1.<keyId>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id names which
/// key sealed it, so values sealed under a previous key still open after rotation; each value
/// gets a fresh random 96-bit nonce; the caller's additional authenticated data (for tokens:
/// the connection id and provider) is bound in, so a ciphertext moved to another row fails.
public struct SecretBox: Sendable {
    /// One AES-256 key and its public identifier.
    public struct Key: Sendable {
        public let id: String
        let key: SymmetricKey

        /// A 32-byte key. The id is derived from the key itself, so every process that holds
        /// the same key agrees on its id without configuration.
        public init(bytes: [UInt8]) throws(SecretBoxError) {
            guard bytes.count == 32 else { throw .invalidKeyLength(bytes.count) }
            self.key = SymmetricKey(data: bytes)
            let digest = SHA256.hash(data: Array("connectors.secretbox.key-id".utf8) + bytes)
            self.id = Hex.encode(digest.prefix(4))
        }

        /// Accepts the spec's two forms: exactly 32 characters (used as UTF-8 bytes), or the
        /// standard base64 of 32 bytes.
        public init(configured value: String) throws(SecretBoxError) {
            if let decoded = Data(base64Encoded: value), decoded.count == 32 {
                try self.init(bytes: Array(decoded))
            } else if value.utf8.count == 32 {
                try self.init(bytes: Array(value.utf8))
            } else {
                throw .invalidKeyLength(value.utf8.count)
            }
        }
    }

    private static let version = "v1"
    public let current: Key
    private let keysByID: [String: Key]

    /// `current` seals; `previous` keys are kept only to open older values.
    public init(current: Key, previous: [Key] = []) {
        self.current = current
        var keys = [String: Key]()
        for key in previous { keys[key.id] = key }
        keys[current.id] = current
        self.keysByID = keys
    }

    /// Seals `plaintext` under the current key with a fresh nonce.
    public func seal(_ plaintext: String, additionalData: String) throws -> String {
        let box = try AES.GCM.seal(
            Array(plaintext.utf8), using: current.key, nonce: AES.GCM.Nonce(),
            authenticating: Array(additionalData.utf8))
        guard let combined = box.combined else { throw SecretBoxError.malformed }
        return "\(Self.version).\(current.id).\(Base64URL.encode(combined))"
    }

    /// Opens a sealed value; fails for an unknown key id, a tampered value or different AAD.
    public func open(_ sealed: String, additionalData: String) throws(SecretBoxError) -> String {
        let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.version else { throw .malformed }
        guard let key = keysByID[String(parts[1])] else { throw .unknownKey(String(parts[1])) }
        guard let combined = Base64URL.decode(String(parts[2])), combined.count >= 12 + 16 else { throw .malformed }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            let plaintext = try AES.GCM.open(box, using: key.key, authenticating: Array(additionalData.utf8))
            return String(decoding: plaintext, as: UTF8.self)
        } catch {
            throw .authenticationFailed
        }
    }

    /// The id of the key that sealed a value, or nil when it is not a sealed value.
    public static func keyID(of sealed: String) -> String? {
        let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == version else { return nil }
        return String(parts[1])
    }

    /// True when the value was sealed under a key other than the current one (re-encryption).
    public func needsResealing(_ sealed: String) -> Bool {
        Self.keyID(of: sealed) != current.id
    }
}

public enum SecretBoxError: Error, Equatable, CustomStringConvertible {
    case invalidKeyLength(Int)
    case malformed
    case unknownKey(String)
    case authenticationFailed

    public var description: String {
        switch self {
        case .invalidKeyLength(let count): "an AES-256 key must be 32 bytes (got \(count))"
        case .malformed: "the sealed value is malformed"
        case .unknownKey(let id): "no configured key has id \(id)"
        case .authenticationFailed:
            "the sealed value failed authentication (wrong key, tampered, or other additional data)"
        }
    }
}
