import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error that renders its own response: `AppError`, and OAuth endpoints' RFC 6749 errors.
public protocol RenderedError: Error {
    func render() -> Response
}

/// A library's error that is sometimes the client's answer rather than a fault of ours (e.g. a
/// database statement timeout is 503): `clientError` says which, nil for the rest, which are
/// logged and answered 500 like any unknown error.
public protocol ClientFacingError: Error {
    var clientError: AppError? { get }
}

extension AppError {
    /// 503 `DATABASE_TIMEOUT`: PostgreSQL cancelled the statement at `DATABASE_STATEMENT_TIMEOUT_MS`.
    public static var databaseTimeout: AppError {
        AppError(
            .serviceUnavailable, code: "DATABASE_TIMEOUT", message: "The database did not answer in time; try again.",
            headers: [.retryAfter: "1"])
    }

    /// Every pooled PostgreSQL connection stayed busy past `DATABASE_POOL_WAIT_MS`.
    public static var databaseBusy: AppError {
        AppError(
            .serviceUnavailable, code: "DATABASE_BUSY", message: "The database is busy; try again shortly.",
            headers: [.retryAfter: "1"])
    }
}

/// The one error type: an HTTP status, an `UPPER_SNAKE` code and a human sentence, rendered
/// as `{"code", "message"}`. Thrown from anywhere; rendered by `ErrorRendering` (in `RequestPipelineMiddleware`).
public struct AppError: RenderedError, HTTPResponseError, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        render()
    }

    /// The JSON response for this error.
    public func render() -> Response {
        let body =
            (try? Response.jsonBody(ErrorBody(code: code, message: message)))
            ?? ByteBuffer(string: #"{"code":"INTERNAL_SERVER_ERROR","message":"error"}"#)
        return Response.json(encoded: body, status: status, headers: headers)
    }

    struct ErrorBody: Encodable {
        let code: String
        let message: String
    }
}

extension AppError {
    public static func badRequest(_ code: String = "BAD_REQUEST", _ message: String) -> AppError {
        AppError(.badRequest, code: code, message: message)
    }

    public static func unauthorized(_ code: String = "UNAUTHORIZED", _ message: String = "Authentication is required.")
        -> AppError
    {
        AppError(.unauthorized, code: code, message: message)
    }

    public static func forbidden(_ code: String = "FORBIDDEN", _ message: String) -> AppError {
        AppError(.forbidden, code: code, message: message)
    }

    public static func notFound(_ code: String = "NOT_FOUND", _ message: String = "No such resource.") -> AppError {
        AppError(.notFound, code: code, message: message)
    }

    public static func payloadTooLarge(limit: Int) -> AppError {
        AppError(
            .contentTooLarge, code: "PAYLOAD_TOO_LARGE",
            message: "The request body is larger than the \(limit)-byte limit of this route.")
    }

    public static func serviceUnavailable(_ code: String, _ message: String) -> AppError {
        AppError(.serviceUnavailable, code: code, message: message)
    }

    public static let `internal` = AppError(
        .internalServerError, code: "INTERNAL_SERVER_ERROR",
        message: "Something went wrong on our side; the request id identifies it in the logs.")

    /// Maps Hummingbird's own errors (unknown routes, oversized bodies, …) to our shape.
    public static func from(_ error: HTTPError) -> AppError {
        let code: String
        let message: String
        switch error.status {
        case .notFound: (code, message) = ("NOT_FOUND", "No route matches this method and path.")
        case .methodNotAllowed: (code, message) = ("METHOD_NOT_ALLOWED", "This method is not allowed on this path.")
        case .contentTooLarge: (code, message) = ("PAYLOAD_TOO_LARGE", "The request body is too large.")
        case .unsupportedMediaType:
            (code, message) = ("UNSUPPORTED_MEDIA_TYPE", error.body ?? "Unsupported content type.")
        case .badRequest: (code, message) = ("BAD_REQUEST", error.body ?? "The request is malformed.")
        default:
            code = error.status.reasonPhrase.uppercased().replacingOccurrences(of: " ", with: "_")
            message = error.body ?? error.status.reasonPhrase
        }
        return AppError(error.status, code: code, message: message, headers: error.headers)
    }
}
