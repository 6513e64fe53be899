import DB
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCP
import NIOCore
import Shared

/// `POST /mcp`: the agent's tools for the caller, served over MCP Streamable HTTP in stateless
/// mode (modelcontextprotocol/swift-sdk), and `GET /.well-known/oauth-protected-resource[/mcp]`
/// (RFC 9728) naming the auth service as the authorization server. Callers come with an OAuth
/// access token for this endpoint (`MCPAuthMiddleware`); its scopes decide which tools it sees
/// and may call.
///
/// A `Server` and a stateless transport are made per request: the transport matches replies by
/// JSON-RPC id, so sharing one between clients would cross their answers.
struct MCPRoutes: Sendable {
    let registry: ToolRegistry
    let toolPolicies: ToolPolicyRepository
    let revocations: GrantRevocations
    let publicURL: String
    let trustedOrigins: Set<String>
    let logger: Logger

    var resource: String { publicURL + "/mcp" }
    var metadataURL: String { publicURL + "/.well-known/oauth-protected-resource/mcp" }

    func addRoutes(to router: Router<ConnectorsRequestContext>, policies: RoutePolicies) {
        // An access token for this endpoint (a 401 names the resource metadata) and the user's
        // limit; the metadata is public.
        let group = router.group().add(middleware: policies.body.agent).add(
            middleware: MCPAuthMiddleware(
                verifier: policies.auth.verifier, revocations: revocations, resource: resource, metadataURL: metadataURL
            )
        )
        .add(middleware: policies.limit.perUser)
        /// One JSON-RPC message from any MCP client, with an access token issued for this endpoint.
        group.post("/mcp") { request, context in
            let user = try context.requireUser()
            guard let grant = context.grant else { throw AppError.unauthorized() }
            let body = try await RawBody.collect(request, context: context)
            // A tool beyond the grant's scopes is refused at the HTTP level, so the client can
            // ask the person for more (MCP authorization: step-up on 403 insufficient_scope).
            let call = Self.toolCall(body)
            if let called = call?.name, let tool = ToolRegistry.all.first(where: { $0.name == called }) {
                let needed = MCPScopes.required(for: tool.risk)
                guard grant.scopes.contains(needed) else { throw insufficientScope(needed) }
            }
            let allowed = Set(MCPScopes.all.filter(grant.scopes.contains))
            // `deny` hides a tool here too. `ask` is the MCP client's to put to the person: MCP
            // hosts confirm tool calls themselves (from `destructiveHint`/`readOnlyHint`).
            async let tools = registry.toolbox(
                userId: user.id, origin: ToolCallOrigin(surface: .mcp, clientId: grant.clientId))
            let policies = try await toolPolicies.load(userId: user.id)
            let toolbox = try await tools.limited {
                allowed.contains(MCPScopes.required(for: $0.risk)) && policies.policy(for: $0) != .deny
            }
            let answer = await handle(
                MCP.HTTPRequest(
                    method: "POST", headers: Self.headers(request.headers), body: Data(body.readableBytesView),
                    path: "/mcp"), toolbox: toolbox, call: call)
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
                        resource: resource, authorization_servers: [publicURL], scopes_supported: MCPScopes.all,
                        bearer_methods_supported: ["header"], resource_name: "Connectors"),
                    headers: [.cacheControl: "public, max-age=15"])
            }
        }
    }

    struct ProtectedResource: Encodable {
        let resource: String
        let authorization_servers: [String]
        let scopes_supported: [String]
        let bearer_methods_supported: [String]
        let resource_name: String
    }

    /// A `tools/call` message: the tool it names and its arguments exactly as sent (the SDK
    /// reads them as `Value` does, which turns strings shaped like data URLs into bytes; see
    /// `ExactValue`).
    struct ToolCall {
        let name: String
        let arguments: [String: Value]?
    }

    /// The call a single `tools/call` message makes; nil for any other message.
    static func toolCall(_ body: ByteBuffer) -> ToolCall? {
        struct Message: Decodable {
            struct Params: Decodable {
                let name: String?
                let arguments: ExactValue?

                enum CodingKeys: String, CodingKey { case name, arguments }

                // Arguments that cannot be read must not hide the tool's name from the scope check.
                init(from decoder: any Decoder) throws {
                    let container = try decoder.container(keyedBy: CodingKeys.self)
                    name = try container.decodeIfPresent(String.self, forKey: .name)
                    arguments = try? container.decodeIfPresent(ExactValue.self, forKey: .arguments)
                }
            }
            let method: String?
            let params: Params?
        }
        guard let message = try? JSONDecoder().decode(Message.self, from: Data(body.readableBytesView)),
            message.method == "tools/call", let name = message.params?.name
        else { return nil }
        return ToolCall(name: name, arguments: message.params?.arguments?.value.objectValue)
    }

    func insufficientScope(_ scope: String) -> AppError {
        AppError(
            .forbidden, code: "INSUFFICIENT_SCOPE",
            message: "This tool needs the \(scope) scope, which the access token was not granted.",
            headers: [
                .wwwAuthenticate:
                    #"Bearer error="insufficient_scope", scope="\#(scope)", resource_metadata="\#(metadataURL)""#
            ])
    }

    /// `call`: the message's own tool call, read exactly, whose arguments replace the SDK's.
    private func handle(_ request: MCP.HTTPRequest, toolbox: Toolbox, call exact: ToolCall?) async -> MCP.HTTPResponse {
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                // Browsers send Origin: only trusted ones may call (DNS-rebinding and CSRF defence);
                // other clients send none.
                OriginValidator(allowedHosts: [], allowedOrigins: Array(trustedOrigins)),
                AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]), logger: logger)
        let server = Server(name: "connectors", version: "1.0.0", capabilities: .init(tools: .init(listChanged: false)))
        let tools = toolbox.tools.map { tool in
            let hints = tool.kind.hints
            return Tool(
                name: tool.name, title: tool.title, description: tool.description,
                inputSchema: toolbox.inputSchema(of: tool),
                annotations: .init(
                    title: tool.title, readOnlyHint: hints.readOnly, destructiveHint: hints.destructive,
                    idempotentHint: hints.idempotent, openWorldHint: hints.openWorld),
                outputSchema: tool.result?.mcpOutputSchema)
        }
        let structured = Set(toolbox.tools.filter { $0.result != nil }.map(\.name))
        // The answer as the handler made it: the SDK passes a handler's result on by encoding it
        // and reading it back as `Value`, which rewrites strings shaped like data URLs (see
        // `ExactValue`), so the reply's `result` is put back as it was made.
        let answered = LockedBox<CallTool.Result?>(nil)
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { call in
            let result = await Self.callTool(call, exact: exact, toolbox: toolbox, structured: structured)
            answered.withLock { $0 = result }
            return result
        }
        do {
            try await server.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("the MCP server could not start"))
        }
        let response = await transport.handleRequest(request)
        await server.stop()
        guard let made = answered.withLock({ $0 }) else { return response }
        return Self.replacingResult(of: response, with: made)
    }

    /// A `tools/call`, with the arguments exactly as sent when they were read from the message.
    private static func callTool(
        _ call: CallTool.Parameters, exact: ToolCall?, toolbox: Toolbox, structured: Set<String>
    ) async -> CallTool.Result {
        let arguments = exact?.name == call.name ? exact?.arguments : call.arguments
        let outcome = await toolbox.call(call.name, input: .object(arguments ?? [:]))
        // A JSON answer is also given as `structuredContent` (`{"result": …}`), the text being
        // the same JSON.
        if structured.contains(call.name), !outcome.isError {
            guard let value = try? ExactValue.decode(Data(outcome.text.utf8)) else {
                // Cut to the result limit, it is no longer the JSON its schema promises.
                return CallTool.Result(
                    content: [
                        .text(
                            text: "The result is too large to return whole; ask for fewer items.",
                            annotations: nil, _meta: nil)
                    ], isError: true)
            }
            let content: Value = ["result": value]
            return CallTool.Result(
                content: [.text(text: ToolJSON.text(content), annotations: nil, _meta: nil)],
                structuredContent: Optional(content), isError: false)
        }
        return CallTool.Result(
            content: [.text(text: outcome.text, annotations: nil, _meta: nil)], isError: outcome.isError)
    }

    /// The JSON-RPC reply with `result` replaced by `result` encoded here; the reply unchanged
    /// when it carries no result (an error).
    static func replacingResult(of response: MCP.HTTPResponse, with result: CallTool.Result) -> MCP.HTTPResponse {
        guard case .data(let body, let headers) = response,
            case .object(var message)? = try? ExactValue.decode(body), message["result"] != nil,
            let made = try? ExactValue.decode(JSONEncoder().encode(result))
        else { return response }
        message["result"] = made
        return .data(Data(ToolJSON.text(.object(message)).utf8), headers: headers)
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
