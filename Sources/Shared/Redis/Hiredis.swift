import CHiredis
import NIOCore

/// libhiredis's command formatter: arguments → RESP request bytes.
enum RedisCommandFormatter {
    static func format(_ arguments: [[UInt8]]) -> ByteBuffer {
        // One contiguous copy of every argument, argv pointing into it; the trailing byte keeps
        // the storage non-empty so even empty arguments have a valid pointer.
        let storage: [UInt8] = arguments.flatMap { $0 } + [0]
        return storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var offset = 0
            var argv = [UnsafePointer<CChar>?]()
            var lengths = [Int]()
            argv.reserveCapacity(arguments.count)
            for argument in arguments {
                argv.append(base + offset)
                lengths.append(argument.count)
                offset += argument.count
            }
            var target: UnsafeMutablePointer<CChar>?
            let length = argv.withUnsafeMutableBufferPointer { argvPointer in
                lengths.withUnsafeBufferPointer { lengthPointer in
                    redisFormatCommandArgv(
                        &target, Int32(arguments.count), argvPointer.baseAddress, lengthPointer.baseAddress)
                }
            }
            guard length > 0, let target else { return ByteBuffer() }
            defer { redisFreeCommand(target) }
            return ByteBuffer(bytes: UnsafeRawBufferPointer(start: target, count: Int(length)))
        }
    }
}

/// libhiredis's reply reader: feed it bytes as they arrive, take complete replies out.
/// Owned by one channel handler, so it is only ever touched on that channel's event loop.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        self.reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
    }

    /// The next complete reply, nil when more bytes are needed.
    func next() throws(RedisError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            let message = withUnsafeBytes(of: &reader.pointee.errstr) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw .protocolError(message)
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ pointer: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let reply = pointer.pointee
        func bytes() -> [UInt8] {
            guard let str = reply.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: reply.len))
        }
        switch reply.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int64(reply.integer))
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            guard let elements = reply.element else { return .array([]) }
            return .array((0..<reply.elements).map { convert(elements[$0]!) })
        default: return .null
        }
    }
}
