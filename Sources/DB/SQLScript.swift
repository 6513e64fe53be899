/// Splits a migration file into statements. postgres-nio speaks only the extended query
/// protocol, which takes one statement per query, so the migrator sends them one by one.
///
/// A `;` ends a statement unless it is inside a string ('…', E'…'), a quoted identifier ("…"),
/// a comment (-- … or nested /* … */) or a dollar-quoted body ($$…$$, $tag$…$tag$).
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements = [String]()
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let text = String(current).trimmingWhitespace()
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current.removeAll()
        }
        func copy(until end: Int) {
            current.append(contentsOf: chars[index..<min(end, chars.count)])
            index = min(end, chars.count)
        }

        while index < chars.count {
            let char = chars[index]
            let next = index + 1 < chars.count ? chars[index + 1] : nil
            switch char {
            case ";":
                index += 1
                flush()
            case "'", "\"":
                // Doubled quotes escape themselves, so scanning to the next quote and
                // continuing handles them.
                var end = index + 1
                while end < chars.count, chars[end] != char { end += 1 }
                copy(until: end + 1)
            case "-" where next == "-":
                var end = index
                while end < chars.count, chars[end] != "\n" { end += 1 }
                copy(until: end)
            case "/" where next == "*":
                var depth = 0
                var end = index
                repeat {
                    if end + 1 < chars.count, chars[end] == "/", chars[end + 1] == "*" {
                        depth += 1
                        end += 2
                    } else if end + 1 < chars.count, chars[end] == "*", chars[end + 1] == "/" {
                        depth -= 1
                        end += 2
                    } else {
                        end += 1
                    }
                } while depth > 0 && end < chars.count
                copy(until: end)
            case "$":
                if let tag = dollarTag(chars, at: index) {
                    let body = index + tag.count
                    var end = body
                    while end < chars.count, !matches(chars, at: end, tag) { end += 1 }
                    copy(until: end + tag.count)
                } else {
                    copy(until: index + 1)
                }
            default:
                copy(until: index + 1)
            }
        }
        flush()
        return statements
    }

    /// `$$` or `$tag$` starting at `index` (a tag is letters, digits and underscores, not
    /// starting with a digit — so `$1` parameters are not tags).
    private static func dollarTag(_ chars: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < chars.count, chars[end] != "$" {
            let c = chars[end]
            let valid = c == "_" || c.properties.isAlphabetic || (end > index + 1 && ("0"..."9").contains(c))
            guard valid else { return nil }
            end += 1
        }
        guard end < chars.count else { return nil }
        return Array(chars[index...end])
    }

    private static func matches(_ chars: [Unicode.Scalar], at index: Int, _ tag: [Unicode.Scalar]) -> Bool {
        index + tag.count <= chars.count && Array(chars[index..<index + tag.count]) == tag
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy {
            $0.trimmingWhitespace().isEmpty || $0.trimmingWhitespace().hasPrefix("--")
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
