import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Request ids: a sane incoming `X-Request-Id` is kept, else one is generated — unique, not
/// secret — from a random prefix per process and a counter, so a request costs no random bytes
/// (each `getrandom` call is a system call).
enum RequestIDs {
    /// An incoming id is kept only if it is short and plain, so it cannot inject into logs.
    static func accepted(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count) else { return nil }
        let allowed = value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
        return allowed ? value : nil
    }

    private static let prefix = RandomToken.string(length: 12)
    private static let counter = Atomic<UInt64>(0)
    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    /// 20 characters: the prefix, then the counter in base 62 (8 digits, zero-padded).
    static func next() -> String {
        var value = counter.add(1, ordering: .relaxed).newValue
        // Written in place: one allocation per id.
        return String(unsafeUninitializedCapacity: 20) { buffer in
            var end = 0
            for byte in prefix.utf8.prefix(12) {
                buffer[end] = byte
                end += 1
            }
            for index in stride(from: 19, through: end, by: -1) {
                buffer[index] = digits[Int(value % 62)]
                value /= 62
            }
            return 20
        }
    }
}
