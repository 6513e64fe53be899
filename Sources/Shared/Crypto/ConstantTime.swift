import Foundation

/// Comparisons whose running time does not depend on where two secrets first differ.
public enum ConstantTime {
    /// True when both byte sequences are equal. Runs over the whole of the longer input so the
    /// time leaks nothing but the lengths, which are public for every use we have
    /// (signature formats, token formats).
    public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        var difference: UInt8 = lhs.count == rhs.count ? 0 : 1
        var left = lhs.makeIterator()
        var right = rhs.makeIterator()
        for _ in 0..<max(lhs.count, rhs.count) {
            difference |= (left.next() ?? 0) ^ (right.next() ?? 0)
        }
        return difference == 0
    }

    /// String form of `equals`, comparing UTF-8 bytes.
    public static func equals(_ lhs: String, _ rhs: String) -> Bool {
        equals(Array(lhs.utf8), Array(rhs.utf8))
    }
}
