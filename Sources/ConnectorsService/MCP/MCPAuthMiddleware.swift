import HTTPTypes
import Hummingbird
import Logging
import Shared

/// Admits to `/mcp` only OAuth access tokens issued for it (RFC 9068 `at+jwt`, `aud` the MCP
/// endpoint's URL, not revoked): the console's JWTs, which act on the whole API, are refused.
/// Failures answer as the MCP authorization spec asks, a 401 whose challenge names the
/// protected-resource metadata and the scopes (RFC 9728 §5.1, RFC 6750 §3).
struct MCPAuthMiddleware: RouterMiddleware {
    typealias Context = ConnectorsRequestContext

    let verifier: JWTVerifier
    let revocations: GrantRevocations
    let resource: String
    let metadataURL: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // No token presented (no header, another scheme such as Basic, or an empty bearer): the
        // plain challenge without an error code (RFC 6750 §3), so the client starts discovery.
        guard let authorization = request.headers[.authorization], authorization.prefix(7).lowercased() == "bearer "
        else {
            throw challenge(nil, "A bearer access token is required.")
        }
        let token = String(authorization.dropFirst(7).drop(while: { $0 == " " }))
        guard !token.isEmpty else { throw challenge(nil, "A bearer access token is required.") }
        var context = context
        do {
            let (user, grant) = try await verifier.verifyAccessToken(token, resource: resource)
            let revoked: Bool
            do {
                revoked = try await revocations.isRevoked(grant, userId: user.id)
            } catch {
                context.logger.warning("could not read revoked MCP grants", metadata: ["error": "\(error)"])
                throw AppError.serviceUnavailable(
                    "REVOCATIONS_UNAVAILABLE",
                    "Whether this access was revoked cannot be checked now; try again shortly.")
            }
            guard !revoked else {
                throw challenge("invalid_token", "The access token's grant was revoked.")
            }
            context.user = user
            context.grant = grant
        } catch let failure as JWTVerifier.Failure {
            context.logger.debug("rejected an MCP access token", metadata: ["reason": "\(failure)"])
            throw challenge("invalid_token", "The access token is invalid, expired, or not issued for this endpoint.")
        }
        return try await next(request, context)
    }

    func challenge(_ error: String?, _ message: String) -> AppError {
        var value = #"Bearer resource_metadata="\#(metadataURL)", scope="\#(MCPScopes.all.joined(separator: " "))""#
        if let error { value += #", error="\#(error)""# }
        return AppError(
            .unauthorized, code: "UNAUTHORIZED", message: message,
            headers: [.wwwAuthenticate: value, HTTPField.Name("Access-Control-Expose-Headers")!: "WWW-Authenticate"])
    }
}

/// The MCP resource's scopes: `connectors:read` for tools that read, `connectors:write` for
/// tools that change something.
enum MCPScopes {
    static let read = "connectors:read"
    static let write = "connectors:write"
    static let all = [read, write]

    static func required(for risk: ToolRisk) -> String {
        risk == .read ? read : write
    }
}
