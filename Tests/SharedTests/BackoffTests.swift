import Shared
import Testing

/// The one retry rule: doubling ceilings up to a cap, less a bounded random part.
@Suite struct BackoffTests {
    @Test func ceilingsDoubleUpToTheCap() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))
        #expect(
            (1...6).map { backoff.ceiling(attempt: $0) }
                == [100, 200, 400, 800, 1000, 1000].map { Duration.milliseconds($0) })
        // Huge attempt numbers neither overflow nor exceed the cap.
        #expect(backoff.ceiling(attempt: 10_000) == .seconds(1))
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(100))
    }

    @Test func delaysStayWithinTheJitterBand() {
        let equal = Backoff(base: .milliseconds(400), cap: .seconds(10), jitter: 0.5)
        let sdk = Backoff(base: .milliseconds(400), cap: .seconds(10), jitter: 0.25)
        for _ in 0..<200 {
            #expect((Duration.milliseconds(200)...(.milliseconds(400))).contains(equal.delay(attempt: 1)))
            #expect((Duration.milliseconds(600)...(.milliseconds(800))).contains(sdk.delay(attempt: 2)))
        }
        let delays = Set((0..<200).map { _ in equal.delay(attempt: 3) })
        #expect(delays.count > 1)
        #expect(Backoff(base: .milliseconds(300), cap: .seconds(1), jitter: 0).delay(attempt: 2) == .milliseconds(600))
    }
}
