import DB
import HTTPTypes
import Crypto
import Foundation
import Logging
import PostgresNIO
import Shared

/// The token endpoint's grants (RFC 6749 §4.1.3 and §6, with RFC 7636 and RFC 8707): a code
/// for tokens, and a refresh token for new ones, rotating on every use.
///
/// Access tokens are RS256 JWTs for the MCP resource (RFC 9068 `at+jwt`), signed with the same
/// keys as every JWT so the connectors service verifies them locally; their `sid` names the
/// authorization they descend from, which is what a revocation names.
struct TokenService: Sendable {
    let settings: OAuthServerSettings
    let grants: OAuthGrantRepository
    let users: UserRepository
    let keys: SigningKeys
    /// Seals the answer kept for a rotated refresh token's reuse window (it holds tokens).
    let replayBox: SecretBox
    let logger: Logger

    struct TokenResponse: Codable, Sendable, Equatable {
        var access_token: String
        var token_type = "Bearer"
        var expires_in: Int
        var expires_at: Int64
        var refresh_token: String?
        var scope: String
        var id_token: String?
    }

    struct AccessTokenClaims: Encodable {
        let iss: String
        let sub: String
        let aud: String
        let client_id: String
        let azp: String
        let scope: String
        let sid: String
        let iat: Int64
        let exp: Int64
        let jti: String
    }

    struct IDTokenClaims: Encodable {
        let iss: String
        let sub: String
        let aud: String
        let iat: Int64
        let exp: Int64
        let auth_time: Int64
        let nonce: String?
        let sid: String
    }

    init(
        settings: OAuthServerSettings, grants: OAuthGrantRepository, users: UserRepository, keys: SigningKeys,
        secret: String, logger: Logger
    ) {
        self.settings = settings
        self.grants = grants
        self.users = users
        self.keys = keys
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(secret.utf8)), salt: Array("connectors.oauth".utf8),
            info: Array("refresh-replay".utf8), outputByteCount: 32)
        self.replayBox = SecretBox(current: try! SecretBox.Key(bytes: derived.withUnsafeBytes { Array($0) }))
        self.logger = logger
    }

    // MARK: authorization_code

    func exchangeCode(_ form: OAuthForm, client: OAuthClient, now: Date = Date()) async throws -> TokenResponse {
        let code = try form.required("code")
        let hash = OAuthHash.of(code)
        // Taken before anything else is checked: any presentation uses the code up.
        guard let (grant, codeExpiresAt) = try await grants.consumeCode(hash: hash, now: now) else {
            if let used = try await grants.usedCode(hash: hash) {
                // A code presented twice was stolen or replayed: what it issued stops working.
                try await grants.deleteTokens(grantId: hash)
                try await grants.revoke(
                    clientId: used.query.client_id, userId: used.userId, grantId: hash,
                    tokenLifetime: settings.revocationLifetime, now: now)
                logger.notice("an authorization code was presented again; its tokens are revoked")
                await grants.recordGrant(
                    "oauth.grant_revoked", userId: used.userId, clientId: used.query.client_id,
                    why: "its authorization code was presented again", actor: "system")
            }
            throw OAuthError.invalidGrant("invalid code")
        }
        guard grant.query.client_id == client.clientId else { throw OAuthError.invalidGrant("invalid code") }
        guard let redirectURI = try form.one("redirect_uri") else {
            throw OAuthError.invalidRequest("redirect_uri is required")
        }
        guard redirectURI == grant.query.redirect_uri else { throw OAuthError.invalidGrant("redirect_uri mismatch") }
        let resources = form.all("resource")
        guard resources.allSatisfy(grant.resource.contains) else {
            throw OAuthError.invalidTarget("The resource was not part of the authorization.")
        }
        guard let verifier = try form.one("code_verifier") else {
            throw OAuthError.invalidRequest("code_verifier is required")
        }
        guard PKCE.verify(verifier: verifier, challenge: grant.query.code_challenge) else {
            throw OAuthError.invalidGrant("code verification failed")
        }
        // A person who removed the app after this code was issued has taken the access back.
        let issuedAt = codeExpiresAt.addingTimeInterval(-settings.codeLifetime)
        guard
            try await !grants.isRevoked(clientId: client.clientId, userId: grant.userId, grantId: hash, since: issuedAt)
        else { throw OAuthError.invalidGrant("invalid code") }
        guard let user = try await users.find(id: grant.userId) else {
            throw OAuthError(status: .badRequest, error: "invalid_user", errorDescription: "the user no longer exists")
        }
        let scopes = OAuthScope.parse(grant.query.scope)
        let refresh =
            scopes.contains(OAuthScope.offlineAccess) && client.allows(grant: "refresh_token")
            ? RefreshTokenRecord(
                id: AuthID.make(), tokenHash: "", clientId: client.clientId, sessionId: grant.sessionId,
                userId: user.id, grantId: hash, resources: grant.resource, scopes: scopes,
                expiresAt: now.addingTimeInterval(settings.refreshTokenLifetime), createdAt: now,
                authTime: Date(timeIntervalSince1970: TimeInterval(grant.authTime) / 1000)) : nil
        var (response, refreshToken) = try await issue(
            userId: user.id, client: client, scopes: scopes, grantId: hash, refresh: refresh, now: now)
        if let refreshToken { try await grants.insertRefreshToken(refreshToken) }
        if scopes.contains(OAuthScope.openID) {
            response.id_token = try await idToken(
                userId: user.id, client: client, grantId: hash, authTime: grant.authTime / 1000,
                nonce: grant.query.nonce, now: now)
        }
        await grants.recordGrant(
            "oauth.grant_issued", userId: user.id, clientId: client.clientId, scopes: scopes, actor: "user")
        return response
    }

    // MARK: refresh_token

    /// What the refresh transaction decided. Refusals are returned, not thrown: the transaction
    /// wraps what its body throws, and nothing was written anyway.
    private enum RefreshOutcome {
        case issued(TokenResponse)
        case replayed(TokenResponse)
        case familyRevoked(clientId: String, userId: String)
        case refused(OAuthError)
    }

    private struct Replay: Codable {
        let scopes: [String]
        let resources: [String]
        let response: TokenResponse
    }

    func refresh(_ form: OAuthForm, client: OAuthClient, now: Date = Date()) async throws -> TokenResponse {
        let presented = try form.required("refresh_token")
        let requestedScopes = try form.one("scope").map(OAuthScope.parse)
        let requestedResources = form.all("resource")
        let outcome: RefreshOutcome = try await grants.postgres.withTransaction(logger: logger) { connection in
            guard let record = try await grants.lockRefreshToken(hash: OAuthHash.of(presented), on: connection),
                record.clientId == client.clientId
            else { return .refused(.invalidGrant("invalid refresh token")) }
            let scopes = requestedScopes ?? record.scopes
            if record.revoked != nil {
                if let until = record.replayExpiresAt, until > now, let sealed = record.replayResponse,
                    let json = try? replayBox.open(sealed, additionalData: "refresh:" + record.id),
                    let replay = try? JSONDecoder().decode(Replay.self, from: Data(json.utf8)),
                    replay.scopes == scopes.sorted(), replay.resources == requestedResources.sorted()
                {
                    return .replayed(replay.response)
                }
                // A rotated token used again after the window: whoever holds the family is not
                // who should; every refresh token of this client for this user goes.
                try await grants.deleteTokens(clientId: record.clientId, userId: record.userId, on: connection)
                try await grants.revoke(
                    clientId: record.clientId, userId: record.userId, grantId: nil,
                    tokenLifetime: settings.revocationLifetime, on: connection, now: now)
                return .familyRevoked(clientId: record.clientId, userId: record.userId)
            }
            guard record.expiresAt > now else { return .refused(.invalidGrant("invalid refresh token")) }
            // A revoked authorization (or the app removed) issues nothing more, whatever raced it.
            guard
                try await !grants.isRevoked(
                    clientId: record.clientId, userId: record.userId, grantId: record.grantId, since: record.createdAt,
                    on: connection)
            else { return .refused(.invalidGrant("invalid refresh token")) }
            guard scopes.allSatisfy(record.scopes.contains) else {
                return .refused(.invalidScope("unable to issue a scope the grant does not hold"))
            }
            guard requestedResources.allSatisfy(record.resources.contains) else {
                return .refused(.invalidTarget("The resource was not part of the authorization."))
            }
            let next = RefreshTokenRecord(
                id: AuthID.make(), tokenHash: "", clientId: record.clientId, sessionId: record.sessionId,
                userId: record.userId, grantId: record.grantId, resources: record.resources, scopes: record.scopes,
                expiresAt: now.addingTimeInterval(settings.refreshTokenLifetime), createdAt: now,
                authTime: record.authTime)
            let (response, refreshToken) = try await issue(
                userId: record.userId, client: client, scopes: scopes, grantId: record.grantId, refresh: next,
                now: now)
            if let refreshToken { try await grants.insertRefreshToken(refreshToken, on: connection) }
            let replay = Replay(scopes: scopes.sorted(), resources: requestedResources.sorted(), response: response)
            let sealed = try replayBox.seal(
                String(decoding: JSONEncoder().encode(replay), as: UTF8.self), additionalData: "refresh:" + record.id)
            try await grants.markRotated(
                id: record.id, replayResponse: sealed, replayUntil: now.addingTimeInterval(settings.refreshReuseWindow),
                on: connection, now: now)
            return .issued(response)
        }
        switch outcome {
        case .issued(let response): return response
        case .replayed(var response):
            response.expires_in = max(0, Int(response.expires_at - Int64(now.timeIntervalSince1970)))
            return response
        case .familyRevoked(let clientId, let userId):
            logger.notice("a rotated refresh token was presented again; the client's tokens for the user are revoked")
            await grants.recordGrant(
                "oauth.grant_revoked", userId: userId, clientId: clientId,
                why: "a rotated refresh token was presented again", actor: "system")
            throw OAuthError.invalidGrant("invalid refresh token")
        case .refused(let error):
            throw error
        }
    }

    // MARK: Issuing

    /// A signed access token and, when `refresh` is given, a new refresh token (returned with
    /// its hash filled in, for the caller to store).
    private func issue(
        userId: String, client: OAuthClient, scopes: [String], grantId: String, refresh: RefreshTokenRecord?,
        now: Date
    ) async throws -> (TokenResponse, RefreshTokenRecord?) {
        guard let key = keys.signer(now: now) else {
            throw AppError.serviceUnavailable("NO_SIGNING_KEY", "No JWT signing key is loaded.")
        }
        let issuedAt = Int64(now.timeIntervalSince1970)
        let expiresAt = issuedAt + Int64(settings.accessTokenLifetime)
        let scope = scopes.joined(separator: " ")
        let claims = AccessTokenClaims(
            iss: settings.issuer, sub: userId, aud: settings.resource, client_id: client.clientId,
            azp: client.clientId, scope: scope, sid: grantId, iat: issuedAt, exp: expiresAt,
            jti: RandomToken.base64URL(byteCount: 24))
        let accessToken = try await JWTIssuer.sign(claims, header: key.encodedAccessTokenHeader, key: key)
        var stored: RefreshTokenRecord?
        var refreshToken: String?
        if var refresh {
            let token = RandomToken.string(length: 32, alphabet: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
            refresh.tokenHash = OAuthHash.of(token)
            stored = refresh
            refreshToken = token
        }
        return (
            TokenResponse(
                access_token: accessToken, expires_in: Int(settings.accessTokenLifetime), expires_at: expiresAt,
                refresh_token: refreshToken, scope: scope),
            stored
        )
    }

    private func idToken(
        userId: String, client: OAuthClient, grantId: String, authTime: Int64, nonce: String?, now: Date
    ) async throws -> String {
        guard let key = keys.signer(now: now) else {
            throw AppError.serviceUnavailable("NO_SIGNING_KEY", "No JWT signing key is loaded.")
        }
        let issuedAt = Int64(now.timeIntervalSince1970)
        let claims = IDTokenClaims(
            iss: settings.issuer, sub: userId, aud: client.clientId, iat: issuedAt,
            exp: issuedAt + Int64(settings.idTokenLifetime), auth_time: authTime, nonce: nonce, sid: grantId)
        return try await JWTIssuer.sign(claims, header: key.encodedJWTHeader, key: key)
    }
}
