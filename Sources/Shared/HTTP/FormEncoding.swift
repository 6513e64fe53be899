import Foundation

/// `application/x-www-form-urlencoded`, as OAuth token endpoints take it.
public enum FormEncoding {
    private static let unreserved: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    public static func escape(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }

    /// The name–value pairs of a form-encoded string (a body or a query), in order, repeats kept.
    public static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decodeComponent(pieces[0]), pieces.count > 1 ? decodeComponent(pieces[1]) : "")
        }
    }

    /// One form-encoded component: `+` is a space; a malformed escape is kept as sent.
    public static func decodeComponent(_ text: some StringProtocol) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
