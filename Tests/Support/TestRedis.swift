import Logging
import NIOCore
import Shared

/// Runs `body` with a connected client for `url`.
public func withRedis<T: Sendable>(_ url: RedisURL, _ body: @Sendable (RedisClient) async throws -> T) async throws -> T
{
    var options = RedisClient.Options()
    options.maximumBackoff = .milliseconds(200)
    // The suite runs beside CPU-heavy tests on 2 cores; a slow answer is load, not a fault.
    options.commandTimeout = .seconds(10)
    options.connectTimeout = .seconds(10)
    let client = RedisClient(url: url, options: options, logger: Logger(label: "test-redis"))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await client.run()
            return nil
        }
        defer { group.cancelAll() }
        await client.waitUntilConnected()
        return try await body(client)
    }
}
