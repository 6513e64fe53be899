import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// A Swift task executor that runs jobs on one NIO event loop.
///
/// With it as a connection's task-executor preference, the connection's handling — parsing,
/// middleware, the route, its awaits on Redis, PostgreSQL and provider calls, and writing the
/// response — resumes on the thread that owns the socket instead of hopping to Swift's
/// cooperative pool and back at every await. Unlike installing NIO as the global executor,
/// a preference lets the runtime enter nonisolated async functions inline rather than as a
/// job each. CPU-heavy work still goes to its own thread pools.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Hummingbird's HTTP/1.1 child channel, each connection handled on its own event loop.
struct EventLoopBoundHTTP1Channel: ServerChildChannel {
    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with every connection's requests handled on the connection's event loop.
    static func eventLoopBoundHTTP1(configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        .init { responder in
            EventLoopBoundHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
