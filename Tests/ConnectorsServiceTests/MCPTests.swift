import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Shared
import Testing
import TestSupport

@testable import ConnectorsService

/// `POST /mcp` with the official Python MCP client (`mcp` from PyPI), and the RFC 9728 metadata.
@Suite struct MCPTests {
    static let client = """
        import asyncio, json, sys
        import httpx
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async def main(url, token):
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                async with streamable_http_client(url, http_client=http) as (read, write, _):
                    async with ClientSession(read, write) as session:
                        init = await session.initialize()
                        tools = await session.list_tools()
                        result = await session.call_tool("linear_search_issues", {"query": "crash"})
                        print(json.dumps({"protocol": init.protocolVersion, "server": init.serverInfo.name,
                                          "tools": sorted(t.name for t in tools.tools),
                                          "isError": bool(result.isError), "text": result.content[0].text}))

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
                    Self.client, arguments: ["http://127.0.0.1:\(port)/mcp", issuer.token(sub: "user-1")]))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            #expect(json["protocol"] as? String == "2025-11-25")
            #expect(json["server"] as? String == "connectors")
            #expect(json["tools"] as? [String] == LinearTools.all.map(\.name).sorted())
            #expect(json["isError"] as? Bool == false)
            #expect((json["text"] as? String)?.contains("ENG-1") == true)
            #expect(fakes.apis.calls.get().map(\.token) == ["lin-token-user-1"])
        }
    }

    @Test func withoutATokenItIs401NamingTheMetadataAndForeignOriginsAreRefused() async throws {
        let fakes = AgentTests.Fakes()
        try await withProviderFake(fakes.router, overrides: AgentTests.overrides) { app, client, issuer, _ in
            let list = #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#
            let headers: HTTPFields = [
                .contentType: "application/json", .accept: "application/json, text/event-stream",
            ]
            let anonymous = try await client.execute(
                uri: "/mcp", method: .post, headers: headers, body: ByteBuffer(string: list))
            #expect(anonymous.status == .unauthorized)
            let challenge = anonymous.headers[.wwwAuthenticate] ?? ""
            #expect(
                challenge.hasPrefix(
                    #"Bearer resource_metadata="https://connectors.test/.well-known/oauth-protected-resource/mcp""#))

            let metadata = try await client.execute(uri: "/.well-known/oauth-protected-resource/mcp", method: .get)
            #expect(metadata.status == .ok)
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(metadata.body.readableBytesView)) as? [String: Any])
            #expect(document["resource"] as? String == "https://connectors.test/mcp")
            #expect(document["authorization_servers"] as? [String] == ["https://connectors.test"])

            var signedIn = headers
            signedIn[.authorization] = "Bearer \(issuer.token(sub: "user-1"))"
            let listed = try await client.execute(
                uri: "/mcp", method: .post, headers: signedIn, body: ByteBuffer(string: list))
            #expect(listed.status == .ok)
            let reply = try #require(
                try JSONSerialization.jsonObject(with: Data(listed.body.readableBytesView)) as? [String: Any])
            #expect(((reply["result"] as? [String: Any])?["tools"] as? [Any])?.isEmpty == true)

            var foreign = signedIn
            foreign[.origin] = "https://evil.example"
            #expect(
                try await client.execute(uri: "/mcp", method: .post, headers: foreign, body: ByteBuffer(string: list))
                    .status == .forbidden)
            #expect(try await client.execute(uri: "/mcp", method: .get, headers: signedIn).status == .methodNotAllowed)
        }
    }
}
