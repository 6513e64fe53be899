import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// An OAuth endpoint's error, rendered as RFC 6749 §5.2 says: `{"error", "error_description"}`,
/// never cached. Codes are RFC 6749/7009/7591/8707's (and Better Auth's `invalid_signature`).
struct OAuthError: RenderedError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var error: String
    var errorDescription: String?
    var headers: HTTPFields = [:]

    var description: String { "\(status.code) \(error): \(errorDescription ?? "")" }

    func render() -> Response {
        var fields = headers
        fields[.cacheControl] = "no-store"
        let body = (try? Response.jsonBody(Body(error: error, error_description: errorDescription))) ?? ByteBuffer()
        return Response.json(encoded: body, status: status, headers: fields)
    }

    struct Body: Encodable {
        let error: String
        let error_description: String?
    }

    /// A body over `limit`, in RFC 6749's shape when it was sent to an OAuth endpoint.
    static func tooLargeUnderOAuth(_ request: Request, limit: Int) -> any Error {
        guard request.uri.path.hasPrefix("/api/auth/oauth2/") else { return AppError.payloadTooLarge(limit: limit) }
        return OAuthError(
            status: .contentTooLarge, error: "invalid_request",
            errorDescription: "The request body is larger than the \(limit)-byte limit.")
    }

    static func invalidRequest(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_request", errorDescription: description)
    }
    static func invalidGrant(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_grant", errorDescription: description)
    }
    static func invalidScope(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_scope", errorDescription: description)
    }
    static func invalidTarget(_ description: String) -> OAuthError {
        OAuthError(status: .badRequest, error: "invalid_target", errorDescription: description)
    }
    /// A client that failed to authenticate: 401 with a `Basic` challenge when it tried Basic
    /// (RFC 6749 §5.2), 400 otherwise.
    static func invalidClient(_ description: String, triedBasic: Bool = false) -> OAuthError {
        OAuthError(
            status: triedBasic ? .unauthorized : .badRequest, error: "invalid_client", errorDescription: description,
            headers: triedBasic ? [.wwwAuthenticate: #"Basic realm="oauth""#] : [:])
    }
    static let invalidSignature = OAuthError(status: .badRequest, error: "invalid_signature", errorDescription: nil)
}
