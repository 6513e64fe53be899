import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Shared

@Suite struct GroupCommitTests {
    struct Refused: Error, Equatable { let item: Int }

    /// Items arriving while a write is under way ride together in the next one, and each caller
    /// gets its own item's result.
    @Test func concurrentItemsShareWritesAndGetTheirOwnResults() async throws {
        let writes = Mutex<[[Int]]>([])
        let commit = GroupCommit<Int, Int> { items in
            writes.withLock { $0.append(items) }
            try await Task.sleep(for: .milliseconds(20))
            return items.map { $0 * 10 }
        }
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for item in 0..<50 { group.addTask { (item, try await commit.submit(item)) } }
            return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
        }
        #expect(results == Dictionary(uniqueKeysWithValues: (0..<50).map { ($0, $0 * 10) }))
        let batches = writes.withLock { $0 }
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<50))
        #expect(batches.count < 50)
    }

    /// Given an event loop, the writer runs there, and resumes there after its awaits.
    @Test func theWriterRunsOnTheGivenExecutor() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let onLoop = Mutex<[Bool]>([])
        let commit = GroupCommit<Int, Int>(executor: EventLoopTaskExecutor(loop)) { items in
            onLoop.withLock { $0.append(loop.inEventLoop) }
            try await Task.sleep(for: .milliseconds(5))
            onLoop.withLock { $0.append(loop.inEventLoop) }
            return items
        }
        #expect(try await commit.submit(3) == 3)
        #expect(onLoop.withLock { $0 } == [true, true])
        try await group.shutdownGracefully()
    }

    /// An item the store refuses fails its own caller only, not the others in its batch.
    @Test func oneRefusedItemFailsOnlyItsOwnCaller() async throws {
        let commit = GroupCommit<Int, Int> { items in
            try await Task.sleep(for: .milliseconds(20))
            if let bad = items.first(where: { $0 == 7 }) { throw Refused(item: bad) }
            return items
        }
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for item in 0..<20 { group.addTask { (item, (try? await commit.submit(item)) == item) } }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes.filter { !$0.value }.map(\.key) == [7])
        await #expect(throws: Refused(item: 7)) { try await commit.submit(7) }
    }
}
