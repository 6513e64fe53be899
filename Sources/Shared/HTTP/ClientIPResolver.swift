import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A request's client address: the TCP peer, unless the peer is a trusted proxy, in which case
/// `X-Forwarded-For` is walked from the right past trusted hops to the first untrusted address
/// (so a client cannot spoof its address by sending its own `X-Forwarded-For`).
public struct ClientIPResolver: Sendable {
    let trustedProxies: [CIDR]

    public init(trustedProxies: [CIDR]) {
        self.trustedProxies = trustedProxies
    }

    func isTrusted(_ address: String) -> Bool {
        guard let bytes = IPAddressBytes.parse(address) else { return false }
        return trustedProxies.contains { $0.contains(bytes) }
    }

    /// The client address for a TCP peer: its bytes are checked against the trusted proxies as
    /// they are, and only formatted when they are the answer — this runs for every request.
    public func clientIP(peer: SocketAddress?, forwardedFor: [String]) -> String {
        let trusted: Bool
        let text: String?
        switch peer {
        case .v4(let address):
            var raw = address.address.sin_addr
            trusted = withUnsafeBytes(of: &raw) { isTrusted(bytes: $0.bindMemory(to: UInt8.self)) }
            text = Self.dottedQuad(address.address.sin_addr)
        case .v6(let address):
            var raw = address.address.sin6_addr
            trusted = withUnsafeBytes(of: &raw) { isTrusted(bytes: $0.bindMemory(to: UInt8.self)) }
            text = peer?.ipAddress
        default:
            return "unknown"
        }
        guard let text else { return "unknown" }
        guard trusted, !forwardedFor.isEmpty else { return text }
        return clientIP(peer: text, forwardedFor: forwardedFor)
    }

    private func isTrusted(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        trustedProxies.contains { $0.contains(bytes: bytes) }
    }

    /// `a.b.c.d` without `inet_ntop` and its C-string round trip.
    static func dottedQuad(_ address: in_addr) -> String {
        let value = UInt32(bigEndian: address.s_addr)
        var text = ""
        text.reserveCapacity(15)
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 { text += "." }
            text += String((value >> UInt32(shift)) & 0xFF)
        }
        return text
    }

    /// The client address for a peer and its `X-Forwarded-For` header values.
    public func clientIP(peer: String?, forwardedFor: [String]) -> String {
        guard let peer else { return "unknown" }
        guard isTrusted(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map(\.trimmingOptionalWhitespace)
        for hop in hops.reversed() {
            guard IPAddressBytes.parse(hop) != nil else { break }
            if !isTrusted(hop) { return hop }
        }
        // Every hop is trusted (or the header is absent or garbled): the leftmost valid one is
        // the best we know.
        return hops.first(where: { IPAddressBytes.parse($0) != nil }) ?? peer
    }
}

extension HTTPField.Name {
    public static let xForwardedFor = Self("X-Forwarded-For")!
    public static let xRequestID = Self("X-Request-Id")!
}
