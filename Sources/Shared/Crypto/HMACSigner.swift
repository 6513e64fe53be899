import Crypto
import ExtrasBase64
import Foundation

/// HMAC-SHA256 under one secret, in the encodings webhook senders and cookie formats use.
///
/// The key schedule (the padded inner and outer key blocks) is done once, at init; each MAC
/// then starts from a copy of that state. Services build one per secret at start-up.
public struct HMACSigner: Sendable {
    private let keyed: HMAC<SHA256>

    public init(secret: some DataProtocol) {
        keyed = HMAC(key: SymmetricKey(data: Array(secret)))
    }

    public init(secret: String) {
        self.init(secret: Array(secret.utf8))
    }

    /// Raw HMAC-SHA256 of `message`.
    public func sha256(_ message: some DataProtocol) -> [UInt8] {
        var mac = keyed
        mac.update(data: message)
        return Array(mac.finalize())
    }

    /// Lower-case hex, as Slack (`v0=`), GitHub (`sha256=`) and Linear sign webhooks.
    public func sha256Hex(_ message: some DataProtocol) -> String {
        Hex.encode(sha256(message))
    }

    /// Standard base64, as Better Auth signs its session cookie.
    public func sha256Base64(_ message: String) -> String {
        Base64.encodeToString(bytes: sha256(Array(message.utf8)))
    }

    /// Checks a hex signature (any case) against the expected MAC in constant time.
    public func verifyHex(_ candidate: String, message: some DataProtocol) -> Bool {
        ConstantTime.equals(Array(candidate.lowercased().utf8), Array(sha256Hex(message).utf8))
    }

    /// One-off raw HMAC-SHA256 of `message` under `secret`.
    public static func sha256(secret: some DataProtocol, message: some DataProtocol) -> [UInt8] {
        HMACSigner(secret: secret).sha256(message)
    }

    /// One-off lower-case hex HMAC-SHA256.
    public static func sha256Hex(secret: String, message: some DataProtocol) -> String {
        HMACSigner(secret: secret).sha256Hex(message)
    }

    /// One-off hex signature check.
    public static func verifyHex(_ candidate: String, secret: String, message: some DataProtocol) -> Bool {
        HMACSigner(secret: secret).verifyHex(candidate, message: message)
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
