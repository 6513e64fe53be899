import HTTPTypes
import Hummingbird
import Shared

/// An OAuth endpoint's `application/x-www-form-urlencoded` body, read as its pairs so a repeated
/// parameter can be refused (RFC 6749 §3.1: parameters MUST NOT be included more than once).
struct OAuthForm: Sendable {
    let pairs: [(String, String)]

    init(pairs: [(String, String)]) {
        self.pairs = pairs
    }

    static func read(_ request: Request, context: some ServiceRequestContext) async throws -> OAuthForm {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw OAuthError.invalidRequest("The body must be application/x-www-form-urlencoded.")
        }
        let body = try await RawBody.collect(request, context: context)
        return OAuthForm(pairs: FormEncoding.pairs(String(buffer: body)))
    }

    /// The parameter's value; nil when absent or empty; an error when repeated.
    func one(_ name: String) throws -> String? {
        let values = all(name)
        guard values.count <= 1 else { throw OAuthError.invalidRequest("\(name) must not appear more than once") }
        return values.first.flatMap { $0.isEmpty ? nil : $0 }
    }

    func required(_ name: String) throws -> String {
        guard let value = try one(name) else { throw OAuthError.invalidRequest("\(name) is required") }
        return value
    }

    func all(_ name: String) -> [String] {
        pairs.filter { $0.0 == name }.map(\.1)
    }
}
