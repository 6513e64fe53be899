import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Response {
    /// A JSON response; `no-store` unless the caller sets its own caching.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
        throws -> Response
    {
        json(encoded: try jsonBody(value), status: status, headers: headers)
    }

    /// A JSON response from bytes already encoded (by `jsonBody`).
    public static func json(encoded body: ByteBuffer, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
        -> Response
    {
        guard !headers.isEmpty else {
            return Response(status: status, headers: jsonHeaders, body: .init(byteBuffer: body))
        }
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// The usual case's headers, made once: setting fields one by one validates each value.
    private static let jsonHeaders: HTTPFields = [
        .contentType: "application/json; charset=utf-8", .cacheControl: "no-store",
    ]

    /// `value` as the JSON bytes `json` sends: keys sorted, so equal values give equal bytes.
    public static func jsonBody(_ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ByteBuffer(bytes: try encoder.encode(value))
    }
}
