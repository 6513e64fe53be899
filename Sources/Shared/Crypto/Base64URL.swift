import Crypto
import ExtrasBase64
import Foundation

/// Unpadded base64url (RFC 4648 §5), as JOSE and URL-safe tokens use it.
public enum Base64URL {
    /// Unpadded base64url text for `bytes` (swift-extras-base64: one pass, no intermediate
    /// `Data` and no alphabet mapping afterwards).
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// Digests and other byte sequences that are not collections.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        encode(Array(bytes))
    }

    /// The bytes of unpadded base64url; nil for padding, the standard alphabet or a bad length.
    public static func decode(_ string: String) -> [UInt8]? {
        var standard = [UInt8]()
        standard.reserveCapacity(string.utf8.count + 3)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            case UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="): return nil
            default: standard.append(byte)
            }
        }
        let remainder = standard.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { standard += Array(repeating: UInt8(ascii: "="), count: 4 - remainder) }
        return Data(base64Encoded: Data(standard)).map(Array.init)
    }
}

/// Random tokens from a cryptographically secure generator: BoringSSL's `RAND_bytes` (through
/// swift-crypto), seeded by the kernel, so a token costs no system call per byte.
public enum RandomToken {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        return SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }

    /// `byteCount` random bytes as unpadded base64url.
    public static func base64URL(byteCount: Int = 32) -> String {
        Base64URL.encode(bytes(byteCount))
    }

    /// A string of `length` characters drawn uniformly from an ASCII `alphabet` (bytes at or
    /// above the largest multiple of its size are rejected, so there is no modulo bias).
    public static func string(
        length: Int, alphabet: String = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ) -> String {
        let characters = Array(alphabet.utf8)
        precondition(
            !characters.isEmpty && characters.count <= 256 && characters.count == alphabet.count,
            "the alphabet must be ASCII")
        let limit = 256 - 256 % characters.count
        var result = [UInt8]()
        result.reserveCapacity(length)
        while result.count < length {
            for byte in bytes(length - result.count + 8) where Int(byte) < limit && result.count < length {
                result.append(characters[Int(byte) % characters.count])
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
