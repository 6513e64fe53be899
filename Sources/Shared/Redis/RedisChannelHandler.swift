import NIOCore

/// A command on its way to Redis and the promise its reply completes.
struct RedisRequest {
    let bytes: ByteBuffer
    let promise: EventLoopPromise<RESPValue>
}

/// Pipelining over one connection: requests are written as they come, and since Redis answers
/// in order, each reply completes the oldest pending promise. If the oldest request waits past
/// the timeout the connection is closed, failing everything pending (the order of replies can
/// no longer be trusted), and the client reconnects.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RedisReplyReader()
    private var pending = CircularBuffer<(id: UInt64, promise: EventLoopPromise<RESPValue>)>()
    private var nextID: UInt64 = 0
    private var timedOut = false
    private let timeout: TimeAmount

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        nextID &+= 1
        let id = nextID
        pending.append((id, request.promise))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            if handler.pending.contains(where: { $0.id == id }) {
                handler.timedOut = true
                context.close(promise: nil)
            }
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.feed(unwrapInboundIn(data))
        do {
            while let reply = try reader.next() {
                guard let head = pending.popFirst() else {
                    // A reply nobody asked for: the stream is out of step.
                    context.close(promise: nil)
                    return
                }
                head.promise.succeed(reply)
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(timedOut ? RedisError.timeout : RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.connectionClosed)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let entry = pending.popFirst() {
            entry.promise.fail(error)
        }
    }
}
