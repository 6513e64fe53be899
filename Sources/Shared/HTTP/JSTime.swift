import Foundation

/// Dates as JavaScript's `Date.toJSON()` writes them (`2025-01-31T12:34:56.789Z`), which is
/// what Better Auth's client parses and what all our JSON uses.
public enum JSTime {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    public static func string(_ date: Date) -> String { style.format(date) }
}
