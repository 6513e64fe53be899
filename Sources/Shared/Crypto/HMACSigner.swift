import Crypto
import ExtrasBase64
import Foundation

/// HMAC-SHA256 helpers in the encodings webhook senders and cookie formats use.
public enum HMACSigner {
    /// Raw HMAC-SHA256 of `message` under `secret`.
    public static func sha256(secret: some DataProtocol, message: some DataProtocol) -> [UInt8] {
        let key = SymmetricKey(data: Array(secret))
        return Array(HMAC<SHA256>.authenticationCode(for: Array(message), using: key))
    }

    /// Lower-case hex HMAC-SHA256, as Slack (`v0=`), GitHub (`sha256=`) and Linear sign webhooks.
    public static func sha256Hex(secret: String, message: some DataProtocol) -> String {
        Hex.encode(sha256(secret: Array(secret.utf8), message: message))
    }

    /// Standard base64 HMAC-SHA256, as Better Auth signs its session cookie.
    public static func sha256Base64(secret: String, message: String) -> String {
        Base64.encodeToString(bytes: sha256(secret: Array(secret.utf8), message: Array(message.utf8)))
    }

    /// Checks a hex signature (any case) against the expected HMAC in constant time.
    public static func verifyHex(_ candidate: String, secret: String, message: some DataProtocol) -> Bool {
        let expected = Array(sha256Hex(secret: secret, message: message).utf8)
        return ConstantTime.equals(Array(candidate.lowercased().utf8), expected)
    }
}

/// Lower-case hexadecimal encoding and decoding.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil for odd lengths or non-hex characters.
    public static func decode(_ string: String) -> [UInt8]? {
        let chars = Array(string.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// The value of one hex digit (either case).
    public static func value(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
