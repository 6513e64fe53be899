import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// The parts of GitHub's OAuth web flow and REST API that sign-in needs.
struct GitHubClient: Sendable {
    let http: HTTPClient
    let webURL: String
    let apiURL: String
    let clientID: String
    let clientSecret: String

    struct Profile: Decodable, Sendable {
        let id: Int64
        let login: String
        let name: String?
        let email: String?
        let avatar_url: String?
    }

    struct Email: Decodable, Sendable {
        let email: String
        let primary: Bool
        let verified: Bool
    }

    enum Failure: Error { case invalidCode, userInfo }

    /// `GITHUB_URL/login/oauth/authorize` for a state and PKCE challenge.
    func authorizeURL(state: String, codeChallenge: String, redirectURI: String) -> String {
        webURL + "/login/oauth/authorize?"
            + FormEncoding.encode([
                ("client_id", clientID), ("redirect_uri", redirectURI), ("scope", "read:user user:email"),
                ("state", state), ("code_challenge", codeChallenge), ("code_challenge_method", "S256"),
            ])
    }

    /// Exchanges the code (with the PKCE verifier) for an access token.
    func exchange(code: String, verifier: String, redirectURI: String) async throws -> String {
        var request = HTTPClientRequest(url: webURL + "/login/oauth/access_token")
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "User-Agent", value: "Connectors")
        request.body = .bytes(
            ByteBuffer(
                string: FormEncoding.encode([
                    ("client_id", clientID), ("client_secret", clientSecret), ("code", code),
                    ("redirect_uri", redirectURI), ("code_verifier", verifier),
                ])))
        struct TokenResponse: Decodable {
            let access_token: String?
            let error: String?
        }
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let token = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)).access_token
        else { throw Failure.invalidCode }
        return token
    }

    func profile(token: String) async throws -> Profile {
        try await get("/user", token: token)
    }

    func emails(token: String) async throws -> [Email] {
        try await get("/user/emails", token: token)
    }

    private func get<T: Decodable>(_ path: String, token: String) async throws -> T {
        var request = HTTPClientRequest(url: apiURL + path)
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "User-Agent", value: "Connectors")
        request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let value = try? JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        else {
            throw Failure.userInfo
        }
        return value
    }
}
