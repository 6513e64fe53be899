import Foundation

/// An IPv4 or IPv6 network in CIDR notation, for `TRUSTED_PROXIES`.
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    let network: [UInt8]
    let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = IPAddressBytes.parse(String(parts[0])) else { return nil }
        let maxPrefix = address.count * 8
        let prefix: Int
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxPrefix).contains(value) else { return nil }
            prefix = value
        } else {
            prefix = maxPrefix
        }
        self.prefixLength = prefix
        self.network = Self.mask(address, prefix)
    }

    /// Without allocating: this runs for every request's peer.
    public func contains(_ bytes: [UInt8]) -> Bool {
        var address = bytes[...]
        // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is compared as IPv4.
        if network.count == 4, let mapped = IPAddressBytes.ipv4Mapped(address) { address = mapped }
        guard address.count == network.count else { return false }
        for (index, byte) in zip(network.indices, address) {
            let bits = max(0, min(8, prefixLength - index * 8))
            if bits == 0 { break }
            let mask = bits == 8 ? UInt8(0xFF) : ~(UInt8(0xFF) >> bits)
            if byte & mask != network[index] { return false }
        }
        return true
    }

    public var description: String {
        (network.count == 4 ? network.map(String.init).joined(separator: ".") : Hex.encode(network))
            + "/\(prefixLength)"
    }

    private static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xFF) >> bits)
        }
    }

    /// Loopback and private ranges: where a reverse proxy in front of us normally sits.
    public static let defaultTrustedProxies: [CIDR] = [
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7",
    ].compactMap(CIDR.init)
}

/// Parses textual IP addresses to bytes with the C library's `inet_pton`.
public enum IPAddressBytes {
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`); nil for any other.
    public static func ipv4Mapped(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let start = bytes.startIndex
        guard bytes.count == 16, bytes[start..<start + 10].allSatisfy({ $0 == 0 }), bytes[start + 10] == 0xFF,
            bytes[start + 11] == 0xFF
        else { return nil }
        return bytes[(start + 12)...]
    }

    /// `a.b.c.d` without `inet_ntop` and its C-string round trip.
    public static func dottedQuad(_ bytes: some Collection<UInt8>) -> String {
        var text = ""
        text.reserveCapacity(15)
        for (index, byte) in bytes.enumerated() {
            if index > 0 { text += "." }
            text += String(byte)
        }
        return text
    }
}

/// The key rate limits and lockouts count a client under: its IPv4 address, or the /64 prefix of
/// its IPv6 address — one subscriber usually holds a whole /64, so counting single IPv6
/// addresses would hand an attacker 2^64 fresh budgets. An IPv4-mapped IPv6 address counts as
/// its IPv4 address; anything unparsable is used as it is.
public enum RateLimitSource {
    public static func key(for ip: String) -> String {
        guard ip.utf8.contains(UInt8(ascii: ":")), let bytes = IPAddressBytes.parse(ip), bytes.count == 16 else {
            return ip
        }
        if let ipv4 = IPAddressBytes.ipv4Mapped(bytes[...]) { return IPAddressBytes.dottedQuad(ipv4) }
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }
}
