import Logging
import ServiceLifecycle

/// Upkeep that runs every `interval` until shutdown (deleting what expired, purging what aged
/// out). The first run waits `firstDelay`: nothing here is urgent, and a start-up that fails
/// should say only why. A failed run is logged and tried again next time; every replica may run
/// the same task, so its work must be idempotent.
public struct PeriodicTask: Service {
    let name: String
    let interval: Duration
    let firstDelay: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void

    public init(
        _ name: String, every interval: Duration, firstAfter firstDelay: Duration = .seconds(60), logger: Logger,
        work: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.firstDelay = firstDelay
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [firstDelay] in try await Task.sleep(for: firstDelay) }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await work()
            } catch {
                if !Task.isCancelled {
                    logger.warning("\(name) failed; it runs again later", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }
}
