/// A Redis reply, as libhiredis's reader hands it to us.
public enum RESPValue: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RESPValue])
    case null

    /// The reply as text, for status and bulk replies.
    public var string: String? {
        switch self {
        case .status(let text): text
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

public enum RedisError: Error, Equatable, CustomStringConvertible {
    /// No connection to Redis right now (it is down, or we are reconnecting).
    case notConnected
    /// The connection closed before the reply arrived.
    case connectionClosed
    /// Redis did not answer within the command timeout; the connection is dropped.
    case timeout
    /// Redis answered with an error reply (`-ERR …`, `-NOSCRIPT …`).
    case server(String)
    /// The bytes from the server were not valid RESP.
    case protocolError(String)

    public var description: String {
        switch self {
        case .notConnected: "not connected to Redis"
        case .connectionClosed: "the Redis connection closed"
        case .timeout: "Redis did not answer in time"
        case .server(let message): "Redis error: \(message)"
        case .protocolError(let message): "Redis protocol error: \(message)"
        }
    }
}
