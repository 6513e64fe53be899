import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The auth service's public keys, fetched from `AUTH_JWKS_URL` and kept in memory.
///
/// As a `Service` it fetches at start-up and again when the document's `max-age` (default
/// 5 minutes) runs out, so requests never wait for it. A token whose `kid` is not cached
/// triggers a refetch at most once per `missInterval` (30 s), shared by every request that
/// wants it: a flood of made-up key ids cannot turn into a flood at the auth service. When
/// the auth service cannot be reached, the keys already cached keep working.
public final class JWKSCache: Service, Sendable {
    struct Snapshot: Sendable {
        let keys: JWTKeyCollection
        let kids: Set<String>
        let maxAge: Duration
    }

    private struct State {
        var snapshot: Snapshot?
        var inFlight: Task<Snapshot?, Never>?
        var lastMissFetch: ContinuousClock.Instant?
    }

    let url: String
    let http: HTTPClient
    let logger: Logger
    let missInterval: Duration
    let defaultMaxAge: Duration
    private let state = Mutex(State())
    private let fetches = Counter(label: "jwks_fetches_total")
    private let failures = Counter(label: "jwks_fetch_failures_total")

    public init(
        url: String, http: HTTPClient, logger: Logger, missInterval: Duration = .seconds(30),
        defaultMaxAge: Duration = .seconds(300)
    ) {
        self.url = url
        self.http = http
        self.logger = logger
        self.missInterval = missInterval
        self.defaultMaxAge = defaultMaxAge
    }

    /// The cached keys when they include `kid`; else at most one shared refetch per
    /// `missInterval`, and nil if `kid` is still unknown.
    public func collection(containing kid: String) async -> JWTKeyCollection? {
        let now = ContinuousClock.now
        let (cached, pending): (JWTKeyCollection?, Task<Snapshot?, Never>?) = state.withLock { state in
            if let snapshot = state.snapshot, snapshot.kids.contains(kid) { return (snapshot.keys, nil) }
            if let inFlight = state.inFlight { return (nil, inFlight) }
            // With nothing cached yet (the auth service was down at start-up), try again sooner.
            let interval = state.snapshot == nil ? .seconds(1) : missInterval
            if let last = state.lastMissFetch, now - last < interval { return (nil, nil) }
            state.lastMissFetch = now
            return (nil, startFetch(&state))
        }
        if let cached { return cached }
        guard let snapshot = await pending?.value, snapshot.kids.contains(kid) else { return nil }
        return snapshot.keys
    }

    /// True while the cached JWKS publishes `kid` (a key dropped from it stops verifying at once).
    public func isPublished(_ kid: String) -> Bool {
        state.withLock { $0.snapshot?.kids.contains(kid) ?? false }
    }

    /// Fetches now, then again whenever the cache period runs out; after a failure, retries
    /// with a growing delay (the cached keys stay in use meanwhile).
    public func run() async throws {
        var failuresInARow = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let snapshot = await state.withLock { startFetch(&$0) }.value
            let delay: Duration
            if let snapshot {
                failuresInARow = 0
                delay = snapshot.maxAge
            } else {
                failuresInARow += 1
                delay = .seconds(min(60, 1 << min(failuresInARow, 6)))
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        }
    }

    /// The in-flight fetch, or a new one; its result replaces the cache when it succeeds.
    private func startFetch(_ state: inout State) -> Task<Snapshot?, Never> {
        if let inFlight = state.inFlight { return inFlight }
        let task = Task<Snapshot?, Never> {
            let snapshot = await fetch()
            self.state.withLock { state in
                if let snapshot { state.snapshot = snapshot }
                state.inFlight = nil
            }
            return snapshot
        }
        state.inFlight = task
        return task
    }

    private func fetch() async -> Snapshot? {
        fetches.increment()
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await http.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 256 * 1024)
            guard response.status == .ok else { throw FetchError.status(Int(response.status.code)) }
            let jwks = try JSONDecoder().decode(JWKS.self, from: Data(body.readableBytesView))
            let collection = JWTKeyCollection()
            var kids = Set<String>()
            for var key in jwks.keys where key.keyType == .rsa && (key.algorithm == nil || key.algorithm == .rs256) {
                guard let kid = key.keyIdentifier?.string, !kid.isEmpty else { continue }
                // Pin RS256 on every key, so the algorithm never comes from a token's header.
                key.algorithm = .rs256
                try await collection.add(jwk: key)
                kids.insert(kid)
            }
            let maxAge = Self.maxAge(response.headers["Cache-Control"].first) ?? defaultMaxAge
            logger.debug("fetched the JWKS", metadata: ["keys": "\(kids.count)", "maxAge": "\(maxAge)"])
            return Snapshot(keys: collection, kids: kids, maxAge: maxAge)
        } catch {
            failures.increment()
            logger.warning(
                "could not fetch the JWKS; cached keys stay in use", metadata: ["url": "\(url)", "error": "\(error)"])
            return nil
        }
    }

    enum FetchError: Error { case status(Int) }

    /// `max-age` from a `Cache-Control` value, kept between 30 s and a day (`no-store` and
    /// `no-cache` give the minimum, so a misconfigured header cannot make every request fetch).
    static func maxAge(_ cacheControl: String?) -> Duration? {
        guard let cacheControl else { return nil }
        var seconds: Int?
        for directive in cacheControl.lowercased().split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts.first {
            case "max-age":
                if parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
                {
                    seconds = value
                }
            case "no-store", "no-cache": seconds = 0
            default: continue
            }
        }
        return seconds.map { .seconds(min(max($0, 30), 86_400)) }
    }
}
