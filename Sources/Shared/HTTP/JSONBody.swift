import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Request body decoding with the errors the spec asks for: 415 for a non-JSON content type,
/// 413 past the route's limit, 400 for malformed JSON or a missing or mistyped field.
public enum JSONBody {
    /// Collects the body (bounded by `context.maxUploadSize`) and decodes it as `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some ServiceRequestContext)
        async throws -> T
    {
        guard isJSON(request.headers[.contentType]) else {
            throw AppError(
                .unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE",
                message: "The body must be JSON (Content-Type: application/json).")
        }
        let buffer = try await RawBody.collect(request, context: context)
        guard buffer.readableBytes > 0 else {
            throw AppError.badRequest("INVALID_JSON", "The request body is empty; a JSON object was expected.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw describe(error)
        }
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0].trimmingOptionalWhitespace.lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// A decoding failure as a 400 naming the field, without echoing the client's values.
    public static func describe(_ error: DecodingError) -> AppError {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "body" : joined
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .badRequest("VALIDATION_ERROR", "The field \(path(context, key)) is required.")
        case .typeMismatch(let type, let context):
            return .badRequest("VALIDATION_ERROR", "The field \(path(context)) must be \(typeName(type)).")
        case .valueNotFound(let type, let context):
            return .badRequest("VALIDATION_ERROR", "The field \(path(context)) must be \(typeName(type)), not null.")
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .badRequest("INVALID_JSON", "The request body is not valid JSON.")
        case .dataCorrupted(let context):
            return .badRequest("VALIDATION_ERROR", "The field \(path(context)) has an invalid value.")
        @unknown default:
            return .badRequest("VALIDATION_ERROR", "The request body does not match what this route expects.")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// The raw request body, bounded by the context's limit — for webhook signatures, which must
/// be checked over the exact bytes before anything is decoded.
public enum RawBody {
    public static func collect(_ request: Request, context: some ServiceRequestContext) async throws -> ByteBuffer {
        let limit = context.maxUploadSize
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw AppError.payloadTooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw AppError.payloadTooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            throw AppError.payloadTooLarge(limit: limit)
        }
    }
}
