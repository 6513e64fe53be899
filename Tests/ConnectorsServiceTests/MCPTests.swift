import DB
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MCP
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// `POST /mcp` with the official Python MCP client (`mcp` from PyPI), and the RFC 9728 metadata.
@Suite struct MCPTests {
    static let client = """
        import asyncio, json, sys
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async def main(url, token):
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                # mode "auto": the client first tries the 2026-07-28 `server/discover`, then falls back.
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    tools = await client.list_tools()
                    result = await client.call_tool("linear_search_issues", {"query": "crash"})
                    hints = {t.name: [t.title, t.annotations.read_only_hint, t.annotations.destructive_hint]
                             for t in tools.tools}
                    print(json.dumps({"protocol": client.protocol_version, "tools": [t.name for t in tools.tools],
                                      "hints": hints, "isError": bool(result.is_error),
                                      "text": result.content[0].text, "structured": result.structured_content}))

        asyncio.run(main(sys.argv[1], sys.argv[2]))
        """

    @Test func theOfficialPythonClientListsAndCallsTheCallersTools() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            try await app.insertConnection(
                userId: "user-2", provider: .slack, accountId: "T0ACME", accessToken: "xoxb-user-2")
            let port = try #require(client.port)
            let output = try #require(
                try await TestPython.run(
                    Self.client, arguments: ["http://127.0.0.1:\(port)/mcp", issuer.accessToken(sub: "user-1")]))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            #expect(json["protocol"] as? String == "2025-11-25")
            // In the registry's stable order, each with a title and its annotations.
            #expect(json["tools"] as? [String] == LinearTools.all.map(\.name))
            let hints = try #require(json["hints"] as? [String: [Any]])
            #expect(hints["linear_search_issues"]?[0] as? String == "Search Linear issues")
            #expect(hints["linear_search_issues"]?[1] as? Bool == true)
            #expect(hints["linear_update_issue"]?[1] as? Bool == false)
            #expect(hints["linear_update_issue"]?[2] as? Bool == true)
            // The answer is structured (checked by the client against the tool's outputSchema) and
            // the text is the same JSON.
            let structured = try #require(json["structured"] as? [String: Any])
            #expect(((structured["result"] as? [[String: Any]])?.first?["identifier"] as? String) == "ENG-1")
            let text = try #require((json["text"] as? String)?.data(using: .utf8))
            #expect(
                NSDictionary(dictionary: try JSONSerialization.jsonObject(with: text) as? [String: Any] ?? [:])
                    == NSDictionary(dictionary: structured))
            #expect(json["isError"] as? Bool == false)
            #expect((json["text"] as? String)?.contains("ENG-1") == true)
            #expect(fakes.apis.calls.get().map(\.token) == ["lin-token-user-1"])
        }
    }

    @Test func theSwiftSDKsOwnClientConnects() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            let port = try #require(client.port)
            let token = issuer.accessToken(sub: "user-1", scope: "connectors:read")
            let transport = HTTPClientTransport(
                endpoint: URL(string: "http://127.0.0.1:\(port)/mcp")!, streaming: false,
                requestModifier: { request in
                    var request = request
                    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                    return request
                })
            let mcp = MCP.Client(name: "swift-sdk-test", version: "1.0.0")
            let initialized = try await mcp.connect(transport: transport)
            #expect(initialized.serverInfo.name == "connectors")
            let (tools, _) = try await mcp.listTools()
            #expect(tools.map(\.name) == LinearTools.all.filter { $0.risk == .read }.map(\.name))
            #expect(tools.allSatisfy { $0.annotations.readOnlyHint == true && $0.title != nil })
            let (content, isError) = try await mcp.callTool(name: "linear_search_issues", arguments: ["query": "crash"])
            #expect(isError != true)
            guard case .text(let text, _, _) = content.first else {
                Issue.record("no text content")
                return
            }
            #expect(text.contains("ENG-1"))
            await mcp.disconnect()
        }
    }

    static let mcpHeaders: HTTPFields = [
        .contentType: "application/json", .accept: "application/json, text/event-stream",
    ]
    static let list = #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#

    /// A `tools/call` over HTTP with `token`; the JSON-RPC result (the reply must be 200).
    static func callTool(
        _ client: any TestClientProtocol, token: String, id: Int, _ name: String, _ arguments: String
    ) async throws -> [String: Any] {
        var headers = mcpHeaders
        headers[.authorization] = "Bearer \(token)"
        let body =
            #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(name)","arguments":\#(arguments)}}"#
        let response = try await client.execute(
            uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: body))
        #expect(response.status == .ok)
        let reply = try #require(
            try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
        return try #require(reply["result"] as? [String: Any])
    }

    @Test func onlyAccessTokensIssuedForTheEndpointAreAcceptedWithTheChallengeTheSpecGives() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            let metadata = #"resource_metadata="https://connectors.test/.well-known/oauth-protected-resource/mcp""#
            let scopes = #"scope="connectors:read connectors:write""#
            func post(_ token: String?, origin: String? = nil) async throws -> TestResponse {
                var headers = Self.mcpHeaders
                if let token { headers[.authorization] = "Bearer \(token)" }
                if let origin { headers[.origin] = origin }
                return try await client.execute(
                    uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list))
            }
            let anonymous = try await post(nil)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer \(metadata), \(scopes)")
            // Another scheme, or a bearer with nothing after it, presents no token: the same challenge.
            for authorization in ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer    "] {
                var headers = Self.mcpHeaders
                headers[.authorization] = authorization
                let response = try await client.execute(
                    uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list))
                #expect(response.status == .unauthorized, "\(authorization)")
                #expect(response.headers[.wwwAuthenticate] == "Bearer \(metadata), \(scopes)", "\(authorization)")
            }
            // The console's JWT is a credential for the whole API: refused here, with the challenge.
            for refused in [
                issuer.token(sub: "user-1"),
                issuer.accessToken(claims: ["aud": "https://connectors.test"]),
                issuer.accessToken(claims: ["aud": "https://elsewhere.example/mcp"]),
                issuer.accessToken(claims: ["sid": NSNull()]),
                issuer.accessToken(claims: ["exp": Int(Date().timeIntervalSince1970) - 3600]),
            ] {
                let response = try await post(refused)
                #expect(response.status == .unauthorized)
                #expect(
                    response.headers[.wwwAuthenticate] == #"Bearer \#(metadata), \#(scopes), error="invalid_token""#)
            }
            // And the access token is refused on the REST API.
            let rest = try await client.execute(
                uri: "/oauth/connections", method: .get,
                headers: [.authorization: "Bearer \(issuer.accessToken(sub: "user-1"))"])
            #expect(rest.status == .unauthorized)

            let listed = try await post(issuer.accessToken(sub: "user-1"))
            #expect(listed.status == .ok)
            let reply = try #require(
                try JSONSerialization.jsonObject(with: Data(listed.body.readableBytesView)) as? [String: Any])
            #expect(((reply["result"] as? [String: Any])?["tools"] as? [Any])?.isEmpty == true)
            #expect(
                try await post(issuer.accessToken(sub: "user-1"), origin: "https://evil.example").status == .forbidden)

            let document = try await client.execute(uri: "/.well-known/oauth-protected-resource/mcp", method: .get)
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(document.body.readableBytesView)) as? [String: Any])
            #expect(json["resource"] as? String == "https://connectors.test/mcp")
            #expect(json["authorization_servers"] as? [String] == ["https://connectors.test"])
            #expect(json["scopes_supported"] as? [String] == ["connectors:read", "connectors:write"])
            #expect(json["bearer_methods_supported"] as? [String] == ["header"])
            #expect(
                try await client.execute(
                    uri: "/mcp", method: .get,
                    headers: [
                        .authorization: "Bearer \(issuer.accessToken(sub: "user-1"))"
                    ]
                ).status == .methodNotAllowed)
        }
    }

    @Test func aReadOnlyGrantSeesReadToolsAndIsRefusedWriteToolsWithInsufficientScope() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            var headers = Self.mcpHeaders
            headers[.authorization] = "Bearer \(issuer.accessToken(sub: "user-1", scope: "connectors:read"))"
            let listed = try await client.execute(
                uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list))
            let reply = try #require(
                try JSONSerialization.jsonObject(with: Data(listed.body.readableBytesView)) as? [String: Any])
            let names = ((reply["result"] as? [String: Any])?["tools"] as? [[String: Any]])?.compactMap {
                $0["name"] as? String
            }
            #expect(names == LinearTools.all.filter { $0.risk == .read }.map(\.name))
            let call =
                #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"linear_create_issue","arguments":{"teamId":"t","title":"x"}}}"#
            let refused = try await client.execute(
                uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: call))
            #expect(refused.status == .forbidden)
            #expect(
                refused.headers[.wwwAuthenticate]
                    == #"Bearer error="insufficient_scope", scope="connectors:write", resource_metadata="https://connectors.test/.well-known/oauth-protected-resource/mcp""#
            )
            #expect(fakes.apis.calls.get().isEmpty)
        }
    }

    @Test func deniedToolsAreHiddenAndEveryCallIsAuditedWithTheClient() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            try await app.insertConnection(
                userId: "user-1", provider: .linear, accountId: "org-acme", accessToken: "lin-token-user-1")
            try await app.sql { sql in
                try await sql.query(
                    #"INSERT INTO "agentToolPolicy" ("userId", "tool", "policy") VALUES ('user-1', 'linear_create_issue', 'deny')"#
                )
            }
            var headers = Self.mcpHeaders
            headers[.authorization] = "Bearer \(issuer.accessToken(sub: "user-1", clientId: "client-cli"))"
            let listed = try await client.execute(
                uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list))
            let reply = try #require(
                try JSONSerialization.jsonObject(with: Data(listed.body.readableBytesView)) as? [String: Any])
            let names = ((reply["result"] as? [String: Any])?["tools"] as? [[String: Any]])?.compactMap {
                $0["name"] as? String
            }
            #expect(names == LinearTools.all.map(\.name).filter { $0 != "linear_create_issue" })
            for (id, name, arguments) in [
                (2, "linear_search_issues", #"{"query":"crash"}"#),
                (3, "linear_create_issue", #"{"teamId":"t","title":"x"}"#),
            ] {
                let call =
                    #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(name)","arguments":\#(arguments)}}"#
                #expect(
                    try await client.execute(
                        uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: call)
                    )
                    .status == .ok)
            }
            // The denied tool was not made.
            #expect(fakes.apis.calls.get().map(\.operation) == ["searchIssues"])
            let events = try await app.sql { sql in
                var rows = [String]()
                for try await (tool, outcome, surface, clientId, actor) in try await sql.query(
                    #"SELECT "tool", "outcome", "surface", "clientId", "actor" FROM "auditEvent" ORDER BY "id""#
                ).decode((String, String, String, String, String).self) {
                    rows.append([tool, outcome, surface, clientId, actor].joined(separator: " "))
                }
                return rows
            }
            #expect(
                events == [
                    "linear_search_issues ok mcp client-cli mcp_client",
                    "linear_create_issue error mcp client-cli mcp_client",
                ])
        }
    }

    /// Access tokens are checked against a list of revoked grants read from the database. A list
    /// never read (a process just started) or not read for a minute admits nothing until it has
    /// been read again.
    @Test func revokedGrantsAreReadBeforeAnyTokenIsAdmittedAndAgainOnceAMinuteOld() async throws {
        try await withProviderFake(AgentTests.Fakes().router, overrides: AgentTests.overrides) { app, _, _, _ in
            try await app.sql { sql in
                let revocations = GrantRevocations(postgres: Postgres(sql), logger: Logger(label: "revocations-test"))
                let issued = Int64(Date().timeIntervalSince1970) - 10
                func grant(_ id: String, client: String = "client-9") -> ResourceGrant {
                    ResourceGrant(clientId: client, scopes: [], grantId: id, issuedAt: issued)
                }
                try await sql.query(
                    """
                    INSERT INTO "oauthGrantRevocation" ("id", "clientId", "userId", "grantId", "revokedAt", "expiresAt")
                    VALUES ('rv-1', 'client-9', 'user-1', 'grant-gone', now(), now() + interval '2 hours')
                    """)
                // Never read before: read now, so the revoked grant is refused at once.
                let start = Date()
                #expect(try await revocations.isRevoked(grant("grant-gone"), userId: "user-1", now: start))
                #expect(try await !revocations.isRevoked(grant("grant-kept"), userId: "user-1", now: start))
                try await sql.query(
                    """
                    INSERT INTO "oauthGrantRevocation" ("id", "clientId", "userId", "grantId", "revokedAt", "expiresAt")
                    VALUES ('rv-2', 'client-9', 'user-1', NULL, now(), now() + interval '2 hours')
                    """)
                // Read 30 s ago: still current, so not read again yet.
                #expect(
                    try await !revocations.isRevoked(grant("grant-kept"), userId: "user-1", now: start + 30))
                // A minute old: read again before answering, and the client's revocation holds.
                #expect(try await revocations.isRevoked(grant("grant-kept"), userId: "user-1", now: start + 60))
                #expect(
                    try await !revocations.isRevoked(
                        grant("grant-other", client: "client-8"), userId: "user-1", now: start + 60))
            }
        }
    }

    @Test func aRevokedGrantStopsWorking() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(
            fakes.router, overrides: AgentTests.overrides, configure: { $0.revocationPoll = .milliseconds(200) }
        ) { app, client, issuer, _ in
            var headers = Self.mcpHeaders
            let token = issuer.accessToken(sub: "user-1", grantId: "grant-a")
            let other = issuer.accessToken(sub: "user-1", clientId: "client-2", grantId: "grant-b")
            headers[.authorization] = "Bearer \(token)"
            #expect(
                try await client.execute(
                    uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list)
                )
                .status == .ok)
            try await app.sql { postgres in
                try await postgres.query(
                    """
                    INSERT INTO "oauthGrantRevocation" ("id", "clientId", "userId", "grantId", "revokedAt", "expiresAt")
                    VALUES ('r1', 'client-1', 'user-1', NULL, now(), now() + interval '2 hours')
                    """)
            }
            let revokedHeaders = headers
            try await eventually(timeout: .seconds(60), "the revocation reaches the MCP endpoint") {
                try await client.execute(
                    uri: "/mcp", method: .post, headers: revokedHeaders, body: ByteBuffer(string: Self.list)
                )
                .status == .unauthorized
            }
            // Another client's grant for the same person is untouched.
            headers[.authorization] = "Bearer \(other)"
            #expect(
                try await client.execute(
                    uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: Self.list)
                )
                .status == .ok)
        }
    }
}
