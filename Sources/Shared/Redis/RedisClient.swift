import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The Redis client both services share: one pipelined connection per event loop (Redis
/// answers in order, so one connection carries any number of concurrent commands). A command
/// goes out on the connection of the event loop it is sent from, so neither the write nor the
/// reply crosses threads — the request stays on its loop — and from elsewhere on the first
/// connection that is up. `run()` keeps every connection up, reconnecting with capped, jittered
/// backoff after Redis restarts. While none is connected, commands fail at once with
/// `RedisError.notConnected` instead of waiting, so callers can fall back (the rate limiter) or
/// report (readiness).
public final class RedisClient: Service, Sendable {
    public struct Options: Sendable {
        public var connectTimeout: TimeAmount = .seconds(2)
        public var commandTimeout: TimeAmount = .seconds(2)
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(5)
        public init() {}
    }

    private let url: RedisURL
    private let options: Options
    private let loops: [any EventLoop]
    private let loopIDs: [ObjectIdentifier]
    private let logger: Logger
    /// One slot per loop, in `loops` order.
    private let channels: Mutex<[(any Channel)?]>
    private let connectedOnce = Mutex<[CheckedContinuation<Void, Never>]?>([])

    public init(
        url: RedisURL, options: Options = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.url = url
        self.options = options
        self.loops = Array(eventLoopGroup.makeIterator())
        self.loopIDs = loops.map { ObjectIdentifier($0) }
        self.channels = Mutex(Array(repeating: nil, count: loops.count))
        var logger = logger
        logger[metadataKey: "redis"] = "\(url.host):\(url.port)/\(url.database)"
        self.logger = logger
    }

    /// True while at least one connection is established.
    public var isConnected: Bool { channels.withLock { $0.contains { $0?.isActive ?? false } } }

    /// Sends one command and returns its reply; an error reply is thrown as `RedisError.server`.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RESPValue {
        try await send(bytes: arguments.map { Array($0.utf8) })
    }

    @discardableResult
    public func send(bytes arguments: [[UInt8]]) async throws -> RESPValue {
        try await start(bytes: arguments).value()
    }

    /// Sends one command now and returns its reply to await later: a second command sent
    /// meanwhile leaves in the same write, without a child task per command. Throws
    /// `RedisError.notConnected` at once, without waiting for any thread, while disconnected.
    public func start(_ arguments: [String]) throws -> PendingRedisReply {
        try start(bytes: arguments.map { Array($0.utf8) })
    }

    public func start(bytes arguments: [[UInt8]]) throws -> PendingRedisReply {
        guard let channel = connection() else { throw RedisError.notConnected }
        return PendingRedisReply(future: Self.write(RedisCommandFormatter.format(arguments), on: channel))
    }

    /// The calling thread's event loop's connection if it is up, else the first one that is.
    func connection() -> (any Channel)? {
        let current = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
        return channels.withLock { channels in
            if let current, let index = loopIDs.firstIndex(of: current), let channel = channels[index], channel.isActive
            {
                return channel
            }
            for case let channel? in channels where channel.isActive { return channel }
            return nil
        }
    }

    private static func send(_ bytes: ByteBuffer, on channel: any Channel) async throws -> RESPValue {
        try await write(bytes, on: channel).get()
    }

    /// Writes a command; the future is its reply (an error reply included).
    private static func write(_ bytes: ByteBuffer, on channel: any Channel) -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        channel.writeAndFlush(RedisRequest(bytes: bytes, promise: promise)).whenFailure { _ in
            promise.fail(RedisError.connectionClosed)
        }
        return promise.futureResult
    }

    /// Waits until the first connection is up (start-up ordering for tools and tests).
    public func waitUntilConnected() async {
        await withCheckedContinuation { continuation in
            let resumeNow = connectedOnce.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Keeps every connection up until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for index in self.loops.indices {
                    group.addTask { await self.keepConnected(index) }
                }
            }
        }
        let last = channels.withLock { channels in
            defer { channels = channels.map { _ in nil } }
            return channels
        }
        for case let channel? in last { try? await channel.close() }
    }

    /// Connects on loop `index`, and again whenever that connection drops, until cancelled.
    private func keepConnected(_ index: Int) async {
        var logger = logger
        logger[metadataKey: "connection"] = "\(index)"
        var attempt = 0
        while !Task.isCancelled {
            do {
                let channel = try await connect(on: loops[index])
                if attempt > 0 { logger.notice("connected to Redis again") } else { logger.info("connected to Redis") }
                attempt = 0
                channels.withLock { $0[index] = channel }
                let waiters = connectedOnce.withLock { waiters in
                    defer { waiters = nil }
                    return waiters ?? []
                }
                waiters.forEach { $0.resume() }
                try? await withTaskCancellationHandler {
                    try await channel.closeFuture.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
                channels.withLock { $0[index] = nil }
                if Task.isCancelled { break }
                logger.warning("lost the Redis connection; reconnecting")
            } catch {
                if attempt == 0 || attempt % 20 == 0 {
                    logger.warning(
                        "cannot connect to Redis; retrying",
                        metadata: ["error": "\(error)", "attempt": "\(attempt + 1)"])
                }
            }
            attempt += 1
            do { try await Task.sleep(for: backoff(attempt: attempt)) } catch { break }
        }
    }

    /// Equal jitter: replicas that lost Redis together do not reconnect in step.
    func backoff(attempt: Int) -> Duration {
        Backoff(base: options.initialBackoff, cap: options.maximumBackoff, jitter: 0.5).delay(attempt: attempt)
    }

    private func connect(on loop: any EventLoop) async throws -> any Channel {
        let timeout = options.commandTimeout
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(options.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(timeout: timeout))
                }
            }
            .connect(host: url.host, port: url.port).get()
        do {
            if let password = url.password {
                let auth = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try Self.check(await Self.send(RedisCommandFormatter.format(auth.map { Array($0.utf8) }), on: channel))
            }
            if url.database != 0 {
                try Self.check(
                    await Self.send(
                        RedisCommandFormatter.format([Array("SELECT".utf8), Array(String(url.database).utf8)]),
                        on: channel))
            }
        } catch {
            try? await channel.close()
            throw error
        }
        return channel
    }

    fileprivate static func check(_ reply: RESPValue) throws {
        if case .error(let message) = reply { throw RedisError.server(message) }
    }
}

/// A command's reply still on its way (`RedisClient.start`).
public struct PendingRedisReply: Sendable {
    fileprivate let future: EventLoopFuture<RESPValue>

    /// The reply; an error reply is thrown as `RedisError.server`.
    public func value() async throws -> RESPValue {
        let reply = try await future.get()
        try RedisClient.check(reply)
        return reply
    }
}
