/// A configuration problem found at start-up. Its description is the one line an operator
/// reads: the variable and what is wrong with it, never its value (it may be a secret).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let variable: String
    public let problem: String

    public init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "configuration error: \(variable) \(problem)" }

    /// Exit status for bad configuration (`EX_CONFIG` from sysexits.h).
    public static let exitCode: Int32 = 78
}
