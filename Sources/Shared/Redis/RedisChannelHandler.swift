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
///
/// Under load many commands arrive in one event-loop tick; their flush is deferred to the end of
/// the tick so they leave in one `write` and Redis answers them in one read, and one timer
/// watches the oldest request instead of one scheduled task per command.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RedisReplyReader()
    private var pending = CircularBuffer<(deadline: NIODeadline, promise: EventLoopPromise<RESPValue>)>()
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private var timedOut = false
    private let timeout: TimeAmount

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending.append((.now() + timeout, request.promise))
        if timer == nil { watchOldest(context: context) }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    /// Closes the connection if the oldest pending request is still unanswered at its deadline;
    /// re-arms for the next oldest otherwise.
    private func watchOldest(context: ChannelHandlerContext) {
        guard let oldest = pending.first else {
            timer = nil
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: oldest.deadline) {
            let (handler, context) = loopBound.value
            if let head = handler.pending.first, head.deadline <= .now() {
                handler.timedOut = true
                handler.timer = nil
                context.close(promise: nil)
            } else {
                handler.watchOldest(context: context)
            }
        }
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
        timer?.cancel()
        timer = nil
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
