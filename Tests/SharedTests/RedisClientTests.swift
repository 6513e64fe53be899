import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import Shared
import TestSupport

/// What `body` returned or threw.
private func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// The NIO + hiredis client against the real test Redis (which requires AUTH and uses database 2).
@Suite struct RedisClientTests {
    let key = "test:" + RandomToken.string(length: 12)

    /// `TCP_NODELAY` is a TCP-level option: set at the socket level it is number 1, `SO_DEBUG`,
    /// which leaves Nagle on and which the kernel refuses to anyone but root.
    @Test func connectionsSetTCPNoDelayAndNotSocketDebug() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let channel = try #require(redis.connection())
            let noDelay = try await channel.getOption(.tcpOption(.tcp_nodelay)).get()
            let debug = try await channel.getOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_DEBUG))).get()
            #expect(noDelay != 0)
            #expect(debug == 0)
        }
    }

    /// A script runs by its SHA, and is loaded again after Redis lost its script cache.
    @Test func scriptsRunBySHAAndSurviveAFlushedCache() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            #expect(try await script.run(on: redis, keys: [key], arguments: ["2"]) == .integer(2))
            try await redis.send(["SCRIPT", "FLUSH"])
            #expect(try await script.run(on: redis, keys: [key], arguments: ["3"]) == .integer(5))
            #expect(try await redis.send(["SCRIPT", "EXISTS", script.sha]) == .array([.integer(1)]))
        }
    }

    /// One holder at a time; only the holder's release frees the lock.
    @Test func aLockHasOneHolderAndOnlyItsOwnerReleasesIt() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let first = RedisLock(redis: redis, key: key, lifetime: .seconds(60))
            let second = RedisLock(redis: redis, key: key, lifetime: .seconds(60))
            #expect(try await first.acquire())
            #expect(try await !second.acquire())
            await second.release()
            #expect(try await redis.send(["EXISTS", key]) == .integer(1))
            await first.release()
            #expect(try await second.acquire())
            await second.release()
        }
    }

    @Test func authenticatesSelectsTheDatabaseAndRoundTripsBinaryValues() async throws {
        let url = try TestServers.redisURL()
        try await withRedis(url) { (redis: RedisClient) async throws in
            let value: [UInt8] = [0, 1, 2, 13, 10, 255] + Array("\r\n$-1\r\n".utf8)
            #expect(try await redis.send(bytes: [Array("SET".utf8), Array(key.utf8), value]) == .status("OK"))
            #expect(try await redis.send(bytes: [Array("GET".utf8), Array(key.utf8)]) == .bulk(value))
            #expect(try await redis.send(["CLIENT", "INFO"]).string?.contains("db=\(url.database)") == true)
            #expect(try await redis.send(["GET", key + ":missing"]) == .null)
        }
        // The same key is not in database 0: SELECT took effect.
        var db0 = url
        db0.database = 0
        try await withRedis(db0) { (redis: RedisClient) async throws in
            #expect(try await redis.send(["EXISTS", key]) == .integer(0))
        }
    }

    @Test func pipelinesConcurrentCommandsInOrder() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            // Many commands in flight on one connection; each reply must reach its own caller.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let reply = try await redis.send(["ECHO", "message-\(index)"])
                        #expect(reply.string == "message-\(index)")
                        _ = try await redis.send(["INCR", key])
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await redis.send(["GET", key]).string == "500")
        }
    }

    @Test func readsLargeRepliesSpanningManyReads() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            let big = [UInt8](repeating: 0x7A, count: 3 * 1024 * 1024)
            _ = try await redis.send(bytes: [Array("SET".utf8), Array(key.utf8), big])
            #expect(try await redis.send(["GET", key]) == .bulk(big))
            _ = try await redis.send(["RPUSH", key + ":list", "a", "", "c"])
            #expect(
                try await redis.send(["LRANGE", key + ":list", "0", "-1"])
                    == .array([.bulk([97]), .bulk([]), .bulk([99])]))
        }
    }

    @Test func errorRepliesAreThrownAndTheConnectionStaysUsable() async throws {
        try await withRedis(try TestServers.redisURL()) { (redis: RedisClient) async throws in
            await #expect(throws: RedisError.self) { try await redis.send(["NOT-A-COMMAND"]) }
            _ = try await redis.send(["SET", key, "text"])
            do {
                _ = try await redis.send(["INCR", key])
                Issue.record("INCR on text should fail")
            } catch RedisError.server(let message) {
                #expect(message.hasPrefix("ERR"))
            }
            #expect(try await redis.send(["PING"]) == .status("PONG"))
        }
    }

    /// A 10 s timeout, so that ordinary commands are not cut off on a loaded machine, and a BLPOP
    /// that Redis would answer only after two minutes.
    @Test func aCommandPastItsTimeoutDropsTheConnectionAndTheClientReconnects() async throws {
        var options = RedisClient.Options()
        options.commandTimeout = .seconds(10)
        options.initialBackoff = .milliseconds(20)
        options.maximumBackoff = .milliseconds(100)
        // One event loop, so one connection: with several, the command sent after BLPOP could
        // leave on another loop's connection (whichever is up first) and not queue behind it.
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = RedisClient(
            url: try TestServers.redisURL(), options: options, eventLoopGroup: loops,
            logger: Logger(label: "test-redis"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            await client.waitUntilConnected()
            #expect(try await client.send(["PING"]) == .status("PONG"))
            // BLPOP on an empty list holds the connection for 120 s: the command and the one
            // pipelined behind it must fail at the timeout, not when Redis finally answers.
            let start = ContinuousClock.now
            async let blocked = outcome { try await client.send(["BLPOP", key + ":empty", "120"]) }
            try await Task.sleep(for: .milliseconds(50))
            async let behind = outcome { try await client.send(["PING"]) }
            let (first, second) = await (blocked, behind)
            #expect(throws: RedisError.timeout) { try first.get() }
            // Queued behind it, the second fails with it; on a machine so loaded that it was
            // sent only after the timeout dropped the connection, it fails as not connected.
            // Either way neither waited for Redis's answer.
            #expect(
                second.failure as? RedisError == .timeout || second.failure as? RedisError == .notConnected, "\(second)"
            )
            // The bound is the point: well past the 10 s timeout (a loaded machine is slow to
            // act on it), well before Redis's answer at 120 s.
            #expect(ContinuousClock.now - start < .seconds(60))
            try await eventually("reconnected after the timeout") {
                (try? await client.send(["PING"])) == .status("PONG")
            }
            group.cancelAll()
        }
        try await loops.shutdownGracefully()
    }

    @Test func eachEventLoopHasItsOwnConnectionAndCommandsFromItUseIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let client = RedisClient(
            url: try TestServers.redisURL(), eventLoopGroup: group, logger: Logger(label: "test-redis"))
        let loops = Array(group.makeIterator())
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            // A command issued on a loop goes out on that loop's connection: no thread hop.
            try await eventually("a connection on every loop") {
                for loop in loops
                where try await loop.submit({ client.connection()?.eventLoop === loop }).get() == false { return false }
                return true
            }
            // Two distinct connections; from outside any loop a command goes out on the first.
            var channels = Set<ObjectIdentifier>()
            for loop in loops {
                channels.insert(ObjectIdentifier(try #require(try await loop.submit { client.connection() }.get())))
            }
            #expect(channels.count == 2)
            #expect(try await client.send(["PING"]) == .status("PONG"))
            tasks.cancelAll()
        }
        try await group.shutdownGracefully()
    }

    @Test func wrongPasswordNeverConnects() async throws {
        var url = try TestServers.redisURL()
        url.password = "wrong-password"
        let client = RedisClient(url: url, logger: Logger(label: "test-redis"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!client.isConnected)
            await #expect(throws: RedisError.notConnected) { try await client.send(["PING"]) }
            group.cancelAll()
        }
    }

    @Test func commandsFailFastWhileDisconnected() async throws {
        var url = try TestServers.redisURL()
        url.port = try FreePort.next()
        // Timeouts far above the bound below, so waiting for either could not pass unseen.
        var options = RedisClient.Options()
        options.connectTimeout = .seconds(60)
        options.commandTimeout = .seconds(60)
        let client = RedisClient(url: url, options: options, logger: Logger(label: "test-redis"))
        let start = ContinuousClock.now
        await #expect(throws: RedisError.notConnected) { try await client.send(["PING"]) }
        // No connect attempt, no timeout: an immediate answer. The bound is the point; it is
        // generous because a loaded machine can leave any task waiting for a thread for seconds.
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func backoffIsCappedAndJittered() {
        var options = RedisClient.Options()
        options.initialBackoff = .milliseconds(100)
        options.maximumBackoff = .seconds(5)
        let client = RedisClient(url: RedisURL(host: "127.0.0.1"), options: options, logger: Logger(label: "x"))
        #expect((.milliseconds(50)...(.milliseconds(100))).contains(client.backoff(attempt: 1)))
        #expect((.milliseconds(200)...(.milliseconds(400))).contains(client.backoff(attempt: 3)))
        #expect((.milliseconds(2500)...(.seconds(5))).contains(client.backoff(attempt: 30)))
    }
}
