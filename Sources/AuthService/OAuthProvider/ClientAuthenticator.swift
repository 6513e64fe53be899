import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// Who is calling the token, revocation and introspection endpoints (RFC 6749 §2.3): HTTP Basic
/// (`client_secret_basic`), `client_id` + `client_secret` in the form (`client_secret_post`), or
/// `client_id` alone for a public client (`none`). The method must be the one the client
/// registered; secrets are compared as their stored hashes, in constant time.
struct ClientAuthenticator: Sendable {
    let clients: OAuthClientResolver

    func authenticate(_ request: Request, form: OAuthForm) async throws -> OAuthClient {
        let formId = try form.one("client_id")
        let formSecret = try form.one("client_secret")
        var method = "none"
        var id = formId
        var secret = formSecret
        if let authorization = request.headers[.authorization] {
            guard authorization.lowercased().hasPrefix("basic ") else {
                throw OAuthError.invalidClient("Only Basic client authentication is accepted in Authorization.")
            }
            guard formSecret == nil,
                let decoded = Data(base64Encoded: authorization.dropFirst(6).trimmingCharacters(in: .whitespaces)),
                let text = String(bytes: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { throw OAuthError.invalidClient("The Basic credentials are malformed.", triedBasic: true) }
            // RFC 6749 §2.3.1: both halves are form-encoded before they are joined.
            let basicId = FormEncoding.decodeComponent(text[..<colon])
            guard formId == nil || formId == basicId else {
                throw OAuthError.invalidRequest("client_id differs from the Basic credentials")
            }
            id = basicId
            secret = FormEncoding.decodeComponent(text[text.index(after: colon)...])
            method = "client_secret_basic"
        } else if formSecret != nil {
            method = "client_secret_post"
        }
        let triedBasic = method == "client_secret_basic"
        guard let id else { throw OAuthError.invalidClient("client_id is required", triedBasic: triedBasic) }
        guard let client = try await clients.client(id: id), !client.disabled else {
            throw OAuthError.invalidClient("client not found", triedBasic: triedBasic)
        }
        guard client.tokenEndpointAuthMethod == method else {
            throw OAuthError.invalidClient(
                "client registered for \(client.tokenEndpointAuthMethod) cannot use \(method)", triedBasic: triedBasic)
        }
        if method != "none" {
            guard let stored = client.clientSecretHash, let secret,
                ConstantTime.equals(Array(OAuthHash.of(secret).utf8), Array(stored.utf8))
            else { throw OAuthError.invalidClient("invalid client credentials", triedBasic: triedBasic) }
        }
        return client
    }
}
