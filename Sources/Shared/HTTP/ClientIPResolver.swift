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
