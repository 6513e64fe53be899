import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCP
import NIOCore
import Shared

/// `POST /mcp`: the agent's tools for the caller, served over MCP Streamable HTTP in stateless
/// mode (modelcontextprotocol/swift-sdk), and `GET /.well-known/oauth-protected-resource[/mcp]`
/// (RFC 9728) naming the auth service as the authorization server.
///
/// A `Server` and a stateless transport are made per request: the transport matches replies by
/// JSON-RPC id, so sharing one between clients would cross their answers.
struct MCPRoutes: Sendable {
    let registry: ToolRegistry
    let publicURL: String
    let trustedOrigins: Set<String>
    let logger: Logger

    var resource: String { publicURL + "/mcp" }
    var metadataURL: String { publicURL + "/.well-known/oauth-protected-resource/mcp" }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // The JWT (a 401 names the resource metadata) and the user's limit; the metadata is public.
        let group = router.group().add(middleware: policies.body.agent).add(
            middleware: policies.auth.required(resourceMetadata: metadataURL)
        )
        .add(middleware: policies.limit.perUser)
        /// One JSON-RPC message from any MCP client, with the caller's JWT.
        group.post("/mcp") { request, context in
            let user = try context.requireUser()
            let body = try await RawBody.collect(request, context: context)
            let toolbox = try await registry.toolbox(userId: user.id)
            let answer = await handle(
                MCP.HTTPRequest(
                    method: "POST", headers: Self.headers(request.headers), body: Data(body.readableBytesView),
                    path: "/mcp"), toolbox: toolbox)
            return Self.response(answer)
        }
        // Stateless: no server-initiated stream to open and no session to end.
        for method in [HTTPRequest.Method.get, .delete] {
            group.on("/mcp", method: method) { _, _ in
                Response(
                    status: .methodNotAllowed, headers: [.allow: "POST", .contentType: "application/json"],
                    body: .init(
                        byteBuffer: ByteBuffer(
                            string:
                                #"{"code":"METHOD_NOT_ALLOWED","message":"This MCP endpoint is stateless: POST only."}"#
                        )))
            }
        }
        /// RFC 9728 protected-resource metadata, at the path-inserted and the root location.
        for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
            router.get(RouterPath(path)) { _, _ in
                try Response.json(
                    ProtectedResource(
                        resource: resource, authorization_servers: [publicURL], bearer_methods_supported: ["header"],
                        jwks_uri: publicURL + "/api/auth/jwks", resource_name: "Connectors"))
            }
        }
    }

    struct ProtectedResource: Encodable {
        let resource: String
        let authorization_servers: [String]
        let bearer_methods_supported: [String]
        let jwks_uri: String
        let resource_name: String
    }

    private func handle(_ request: MCP.HTTPRequest, toolbox: Toolbox) async -> MCP.HTTPResponse {
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                // Browsers send Origin: only trusted ones may call (DNS-rebinding and CSRF defence);
                // other clients send none.
                OriginValidator(allowedHosts: [], allowedOrigins: Array(trustedOrigins)),
                AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]), logger: logger)
        let server = Server(name: "connectors", version: "1.0.0", capabilities: .init(tools: .init(listChanged: false)))
        let tools = toolbox.tools.map { Tool(name: $0.name, description: $0.description, inputSchema: $0.inputSchema) }
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { call in
            let outcome = await toolbox.call(call.name, input: .object(call.arguments ?? [:]))
            return CallTool.Result(content: [.text(outcome.text)], isError: outcome.isError)
        }
        do {
            try await server.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("the MCP server could not start"))
        }
        let response = await transport.handleRequest(request)
        await server.stop()
        return response
    }

    /// Header names as the transport expects them; repeated fields joined as HTTP allows.
    static func headers(_ fields: HTTPFields) -> [String: String] {
        var headers = [String: String]()
        for field in fields {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return headers
    }

    static func response(_ answer: MCP.HTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        if fields[.contentType] == nil, answer.bodyData != nil { fields[.contentType] = "application/json" }
        return Response(
            status: .init(code: answer.statusCode), headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.bodyData ?? Data())))
    }
}
