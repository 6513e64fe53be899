import Foundation
import NIOCore
import NIOPosix
@testable import Shared
import Testing

/// Event loops under `SCHED_BATCH`; the calling thread untouched.
@Suite struct ThreadSchedulingTests {
    @Test func everyLoopOfTheGroupMovesToBatchAndTheCallerStays() async throws {
        #if os(Linux)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let pool = NIOThreadPool(numberOfThreads: 1)
            for loop in group.makeIterator() {
                #expect(try await loop.submit { ThreadScheduling.currentThreadPolicy() }.get() == 0)
            }

            #expect(try await ThreadScheduling.useBatchPolicy(on: group) == 2)

            for loop in group.makeIterator() {
                #expect(
                    try await loop.submit { ThreadScheduling.currentThreadPolicy() }.get()
                        == ThreadScheduling.batchPolicy)
            }
            // Threads a loop starts inherit the policy: why the signing pool is started first.
            try await group.next().submit { pool.start() }.get()
            #expect(
                try await pool.runIfActive { ThreadScheduling.currentThreadPolicy() } == ThreadScheduling.batchPolicy)
            // The calling thread is not touched.
            #expect(ThreadScheduling.currentThreadPolicy() == 0)
            try await pool.shutdownGracefully()
            try await group.shutdownGracefully()
        #endif
    }
}
