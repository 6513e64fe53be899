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
        // The address's bytes at their fixed offsets in `sockaddr_in` (4) and `sockaddr_in6`
        // (8), read through NIO's `withSockAddr` rather than the C structs' fields, whose
        // visibility depends on which module's copy of the system headers the compiler picks.
        let range: Range<Int>
        switch peer {
        case .v4: range = 4..<8
        case .v6: range = 8..<24
        default: return "unknown"
        }
        guard let peer else { return "unknown" }
        let bytes = peer.withSockAddr { address, size in
            Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(address), count: size)[range])
        }
        let text = bytes.count == 4 ? IPAddressBytes.dottedQuad(bytes) : peer.ipAddress ?? "unknown"
        guard trustedProxies.contains(where: { $0.contains(bytes) }), !forwardedFor.isEmpty else { return text }
        return clientIP(peer: text, forwardedFor: forwardedFor)
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
