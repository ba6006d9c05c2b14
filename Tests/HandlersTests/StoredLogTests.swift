import AgentRuntime
import Foundation
@testable import Runs
import Store
import Testing

/// A run's log written in batches: every event reaches the store once, numbered in order, whatever the batches were;
/// the run's end takes what is still pending into its own transaction; a failed write reaches the run.
@Suite struct StoredLogTests {
    let harness: ThreadHarness

    init() throws { harness = try ThreadHarness() }

    func makeRun(_ id: String) async throws -> StoredLog {
        _ = try await harness.store.createRun(NewRun(id: id, threadID: nil, assistantID: "echo"))
        return StoredLog(engine: harness.engine, runID: id)
    }

    func texts(_ id: String) async throws -> [String] {
        try await harness.store.events(run: id, after: 0, limit: 10_000).map { record in
            guard case .messageDelta(_, let text)? = try RunLogEvent(record) else { return record.event }
            return text
        }
    }

    @Test func everyEventOnceAndInOrder() async throws {
        defer { harness.loop.cancel() }
        let log = try await makeRun("r")
        let texts = (1...300).map { "t\($0)" }
        for text in texts { try await log.append(.messageDelta(id: "m", text: text)) }
        try await log.flush()
        let records = try await harness.store.events(run: "r", after: 0, limit: 10_000)
        #expect(records.map(\.seq) == Array(1...300))
        #expect(try await self.texts("r") == texts)
    }

    @Test func theEndTakesWhatIsPending() async throws {
        defer { harness.loop.cancel() }
        let log = try await makeRun("r")
        for n in 1...50 { try await log.append(.messageDelta(id: "m", text: "t\(n)")) }
        let closing = try await log.closing()
        let written = try await harness.store.lastEventSeq(run: "r")
        // What the writer had not taken yet, then the end, numbered after what it wrote.
        #expect(closing.map(\.seq) == Array((written + 1)...51))
        #expect(closing.last?.event == RunLogEvent.end.kind)
        // Held: nothing more is written until the end's transaction commits (or does not).
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await harness.store.lastEventSeq(run: "r") == written)
        try await harness.store.appendEvents(run: "r", closing)
        log.closed()
        #expect(try await harness.store.events(run: "r", after: 0, limit: 100).map(\.seq) == Array(1...51))

        // When the end's transaction does not happen, what was pending is written as before.
        let other = try await makeRun("o")
        for n in 1...20 { try await other.append(.messageDelta(id: "m", text: "t\(n)")) }
        _ = try await other.closing()
        other.reopen()
        await other.end()
        #expect(try await harness.store.events(run: "o", after: 0, limit: 100).map(\.seq) == Array(1...21))
        #expect(try await texts("o").last == RunLogEvent.end.kind)
    }

    @Test func aFailedWriteReachesTheRunOnce() async throws {
        defer { harness.loop.cancel() }
        // No such run: every write fails (foreign key).
        let log = StoredLog(engine: harness.engine, runID: "ghost")
        try await log.append(.messageDelta(id: "m", text: "a"))
        await #expect(throws: StoreError.runNotFound("ghost")) {
            try await log.flush()
        }
        // Reported once, by the next call that can throw.
        try await log.flush()
        try await log.append(.messageDelta(id: "m", text: "b"))
        await log.settle()
        await #expect(throws: StoreError.runNotFound("ghost")) {
            try await log.append(.messageDelta(id: "m", text: "c"))
        }
    }
}
