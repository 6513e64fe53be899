import AsyncHTTPClient
import Foundation
import MCP
import NIOCore
import NIOHTTP1
import Shared

/// The HTTP calls providers make: form posts to token endpoints and JSON requests to APIs,
/// bounded in time and size, with every transport failure mapped to `ProviderError`.
struct ProviderHTTP: Sendable {
    let client: HTTPClient
    var timeout: TimeAmount = .seconds(10)
    var maxBody = 1 << 20

    struct Reply: Sendable {
        let status: Int
        let body: [UInt8]

        /// The body decoded as `T`, or nil when it is not.
        func decode<T: Decodable>(_ type: T.Type) -> T? {
            try? JSONDecoder().decode(T.self, from: Data(body))
        }

        /// The body as a JSON object (empty when it is not one), its strings exactly as sent.
        var json: [String: Value] { ExactValue.object(body) ?? [:] }
    }

    func postForm(_ url: String, _ fields: [(String, String)], headers: [(String, String)] = [])
        async throws(ProviderError) -> Reply
    {
        try await send(
            url, method: .POST, body: FormEncoding.encode(fields), contentType: "application/x-www-form-urlencoded",
            headers: headers)
    }

    func postJSON(_ url: String, _ object: some Encodable, headers: [(String, String)] = []) async throws(ProviderError)
        -> Reply
    {
        let body = (try? JSONEncoder().encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return try await send(url, method: .POST, body: body, contentType: "application/json", headers: headers)
    }

    func get(_ url: String, headers: [(String, String)] = []) async throws(ProviderError) -> Reply {
        try await send(url, method: .GET, body: nil, contentType: nil, headers: headers)
    }

    /// A DELETE, with a JSON body when one is given (GitHub's token revocation takes one).
    func delete(_ url: String, json: (any Encodable)? = nil, headers: [(String, String)] = [])
        async throws(ProviderError) -> Reply
    {
        let body = json.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        return try await send(
            url, method: .DELETE, body: body, contentType: body == nil ? nil : "application/json", headers: headers)
    }

    private func send(
        _ url: String, method: HTTPMethod, body: String?, contentType: String?, headers: [(String, String)]
    ) async throws(ProviderError) -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if !headers.contains(where: { $0.0 == "Accept" }) {
            request.headers.add(name: "Accept", value: "application/json")
        }
        request.headers.add(name: "User-Agent", value: "Connectors")
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: maxBody)
            return Reply(status: Int(response.status.code), body: Array(bytes.readableBytesView))
        } catch {
            throw .unavailable("\(url.split(separator: "?").first ?? ""): \(error)")
        }
    }
}

extension ProviderHTTP.Reply {
    /// An RFC 6749 token response: tokens, or the grant error it names. `invalid_grant` means a
    /// dead refresh token, or — answering a code exchange — a refused code.
    func tokens(exchangingCode: Bool = false, now: Date = Date()) throws(ProviderError) -> ProviderTokens {
        if let error = json["error"]?.stringValue {
            guard error == "invalid_grant" else { throw .unavailable("token endpoint: \(error)") }
            throw exchangingCode ? .codeRejected : .invalidGrant
        }
        guard (200..<300).contains(status), let access = json["access_token"]?.stringValue, !access.isEmpty else {
            throw .unavailable("token endpoint answered \(status)")
        }
        return ProviderTokens(
            accessToken: access, refreshToken: json["refresh_token"]?.stringValue,
            expiresAt: json["expires_in"]?.number.map { now.addingTimeInterval($0) },
            scopes: ScopeList.parse(json["scope"]))
    }
}

extension Value {
    /// A JSON number, whether it was written as an integer or not.
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}
