import Synchronization
import Testing
@testable import Runs

/// `UsageBatches`: counts made while a write is under way go in the next write, summed per key and day; each add
/// returns only once the write holding its count is done, and a failed write fails only the adds it held.
@Suite struct UsageBatchesTests {
    struct Written: Sendable, Equatable {
        var key: String, day: String, tokens: Int, runs: Int
    }

    final class Recorder: Sendable {
        let written = Mutex<[Written]>([])
        let failing: Set<String>
        init(failing: Set<String> = []) { self.failing = failing }

        func write(_ key: String, _ day: String, _ tokens: Int, _ runs: Int) async throws {
            // As GRDB's and PostgresNIO's calls do, a cancelled task's write is refused.
            try Task.checkCancellation()
            try? await Task.sleep(for: .milliseconds(2))
            if failing.contains(key) { throw Failure() }
            written.withLock { $0.append(Written(key: key, day: day, tokens: tokens, runs: runs)) }
        }
    }
    struct Failure: Error {}

    final class Outcomes: Sendable {
        let counts = Mutex<[String: (ok: Int, failed: Int)]>([:])
        func note(_ key: String, ok: Bool) {
            counts.withLock { $0[key, default: (0, 0)].ok += ok ? 1 : 0; $0[key, default: (0, 0)].failed += ok ? 0 : 1 }
        }
    }

    @Test func concurrentCountsShareWritesAndAllAreCounted() async throws {
        let recorder = Recorder()
        let batches = UsageBatches(write: recorder.write)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask { try await batches.add(key: "k\(index % 2)", day: "2026-12-02", tokens: index) }
            }
            try await group.waitForAll()
        }
        let written = recorder.written.withLock { $0 }
        for key in ["k0", "k1"] {
            let mine = written.filter { $0.key == key }
            #expect(mine.reduce(0) { $0 + $1.tokens } == (0..<200).filter { "k\($0 % 2)" == key }.reduce(0, +))
            #expect(mine.reduce(0) { $0 + $1.runs } == 100)
        }
        #expect(written.count < 100, "\(written.count) writes for 200 counts")
    }

    @Test func anAddReturnsOnlyOnceItsCountIsWritten() async throws {
        let recorder = Recorder()
        let batches = UsageBatches(write: recorder.write)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await batches.add(key: "k", day: "d\(index)", tokens: 1)
                    let written = recorder.written.withLock { $0 }
                    #expect(written.contains(Written(key: "k", day: "d\(index)", tokens: 1, runs: 1)))
                }
            }
            try await group.waitForAll()
        }
        #expect(recorder.written.withLock { $0.count } == 100)
    }

    @Test func aFailedWriteFailsOnlyTheAddsItHeld() async throws {
        let recorder = Recorder(failing: ["bad"])
        let batches = UsageBatches(write: recorder.write)
        let outcomes = Outcomes()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<60 {
                let key = index % 3 == 0 ? "bad" : "good"
                group.addTask {
                    let ok = (try? await batches.add(key: key, day: "d", tokens: 2)) != nil
                    outcomes.note(key, ok: ok)
                }
            }
        }
        let counted = outcomes.counts.withLock { $0 }
        #expect(counted["bad"]?.failed == 20 && counted["bad"]?.ok == 0)
        #expect(counted["good"]?.ok == 40 && counted["good"]?.failed == 0)
        #expect(recorder.written.withLock { $0 }.filter { $0.key == "good" }.reduce(0) { $0 + $1.tokens } == 80)
        // The turn was handed on and given back: a later add writes at once.
        try await batches.add(key: "good", day: "d", tokens: 5)
        #expect(recorder.written.withLock { $0.last } == Written(key: "good", day: "d", tokens: 5, runs: 1))
    }

    /// A run whose client left ends in a cancelled task: as the writer, its cancellation must not refuse the writes of
    /// the batch (its own count and the others').
    @Test func aCancelledWriterStillWritesItsBatch() async throws {
        let recorder = Recorder()
        let batches = UsageBatches(write: recorder.write)
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await batches.add(key: "k", day: "d", tokens: 3)
        }
        try await cancelled.value
        #expect(recorder.written.withLock { $0 } == [Written(key: "k", day: "d", tokens: 3, runs: 1)])
    }

    @Test func sumsSaturateInsteadOfTrapping() async throws {
        let recorder = Recorder()
        let batches = UsageBatches(write: recorder.write)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await batches.add(key: "k", day: "d", tokens: Int.max / 2) } }
            try await group.waitForAll()
        }
        #expect(recorder.written.withLock { $0 }.allSatisfy { $0.tokens > 0 })
    }
}
