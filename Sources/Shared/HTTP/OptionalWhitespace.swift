extension StringProtocol {
    /// Without leading and trailing spaces and tabs: HTTP's optional whitespace (RFC 9110
    /// §5.6.3). For header values parsed per request, where Foundation's
    /// `trimmingCharacters(in:)` goes through `CharacterSet` and costs microseconds on Linux.
    public var trimmingOptionalWhitespace: String {
        let utf8 = Substring(self).utf8
        let isWhitespace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = utf8.firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let last = utf8.lastIndex(where: { !isWhitespace($0) })!
        return String(decoding: utf8[first...last], as: UTF8.self)
    }
}
