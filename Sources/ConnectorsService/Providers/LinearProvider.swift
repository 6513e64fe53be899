import Foundation
import Logging
import MCP
import Shared

/// Linear: OAuth 2 with PKCE; access tokens last 24 hours and refresh tokens rotate.
/// The account is the Linear organization, read from GraphQL.
struct LinearProvider: ConnectionProvider {
    static let scopes = "read,write,issues:create,comments:create"

    let http: ProviderHTTP
    let api: LinearAPI
    /// `LINEAR_URL` (authorize page) and `LINEAR_API_URL` (token, revoke, GraphQL).
    let webURL: String
    let apiURL: String
    let clientID: String
    let clientSecret: String
    /// `app` to act as the application rather than the user (`LINEAR_ACTOR`).
    let actor: String?
    let logger: Logger

    var id: ProviderID { .linear }
    var usesPKCE: Bool { true }

    func authorizeURL(state: String, codeChallenge: String?, redirectURI: String) -> String {
        var fields = [
            ("client_id", clientID), ("redirect_uri", redirectURI), ("response_type", "code"),
            ("scope", Self.scopes), ("state", state), ("prompt", "consent"),
        ]
        if let codeChallenge { fields += [("code_challenge", codeChallenge), ("code_challenge_method", "S256")] }
        if let actor { fields.append(("actor", actor)) }
        return webURL + "/oauth/authorize?" + FormEncoding.encode(fields)
    }

    func complete(_ callback: [String: String], codeVerifier: String?, redirectURI: String) async throws(ProviderError)
        -> ProviderGrant
    {
        if let error = callback["error"] { throw .denied(error) }
        guard let code = callback["code"], !code.isEmpty, let codeVerifier else { throw .invalidCallback }
        let tokens = try await http.postForm(
            apiURL + "/oauth/token",
            [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                ("client_id", clientID), ("client_secret", clientSecret), ("code_verifier", codeVerifier),
            ]
        ).tokens(exchangingCode: true)
        do {
            let (accountId, accountName, viewer) = try await organization(accessToken: tokens.accessToken)
            return ProviderGrant(tokens: tokens, accountId: accountId, accountName: accountName, identity: viewer)
        } catch {
            // Granted, but unusable here: not left live at Linear.
            await revoke(accessToken: tokens.accessToken)
            throw error
        }
    }

    func refresh(refreshToken: String?, accountId: String) async throws(ProviderError) -> ProviderTokens {
        guard let refreshToken else { throw .invalidGrant }
        var tokens = try await http.postForm(
            apiURL + "/oauth/token",
            [
                ("grant_type", "refresh_token"), ("refresh_token", refreshToken),
                ("client_id", clientID), ("client_secret", clientSecret),
            ]
        ).tokens()
        // Linear rotates refresh tokens; should it ever not send one, the old one stays valid.
        if tokens.refreshToken == nil { tokens.refreshToken = refreshToken }
        return tokens
    }

    func revoke(accessToken: String) async {
        do {
            let reply = try await http.postForm(
                apiURL + "/oauth/revoke", [("token", accessToken), ("token_type_hint", "access_token")],
                headers: [("Authorization", "Bearer \(accessToken)")])
            if !(200..<300).contains(reply.status) {
                logger.warning("Linear refused to revoke a token", metadata: ["status": "\(reply.status)"])
            }
        } catch {
            logger.warning("could not revoke a Linear token", metadata: ["error": "\(error)"])
        }
    }

    /// The organization the token belongs to: GraphQL `organization { id name }` (and `viewer`,
    /// which fails for a token that cannot act).
    func organization(accessToken: String) async throws(ProviderError) -> (String, String?, ProviderIdentity?) {
        let data: [String: Value]
        do {
            data = try await api.graphQL(
                "query { viewer { id name } organization { id name urlKey } }", token: accessToken)
        } catch {
            throw .unavailable("\(error)")
        }
        guard let id = data["organization"]?["id"]?.stringValue else {
            throw .unavailable("Linear GraphQL answered without an organization")
        }
        let viewer = data["viewer"]?["id"]?.stringValue.map {
            ProviderIdentity(id: $0, name: data["viewer"]?["name"]?.stringValue)
        }
        return (id, data["organization"]?["name"]?.stringValue, viewer)
    }
}
