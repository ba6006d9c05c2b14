import Foundation
@testable import Handlers
@testable import Runs
import Store
import Testing

/// Two workers of one host on one SQLite file, each with its own store (as two processes have): what one does
/// reaches the other through the store's notices, not through the other's polls, which these tests make far
/// slower than the tests may take (a 20-minute lease, so an idle worker looks for queued runs every 10 minutes;
/// a remote reader that looks again after a minute).
@Suite struct NoticeTests {
    @Test func aRunQueuedWhereThereIsNoRoomIsTakenByAnIdleWorker() async throws {
        let full = try ThreadHarness(lease: .seconds(1200), backgroundCapacity: 0, workerID: "full")
        let idle = try ThreadHarness(sharing: full.path, lease: .seconds(1200), workerID: "idle")
        defer {
            full.loop.cancel()
            idle.loop.cancel()
        }
        #expect(full.engine.notices != nil && idle.engine.notices != nil)
        try await settle(full)
        let created = try await full.json("POST", "/runs", ThreadHarness.input("elsewhere"))
        let runID = try #require(created["run_id"] as? String)
        let run = try await until(full) { try await $0.json("GET", "/runs/\(runID)")["status"] as? String == "success" }
        #expect(run)
        let stored = try await full.store.run(runID)
        #expect(stored?.workerID == "idle")
    }

    @Test func aReaderOnAnotherWorkerIsToldOfEachEvent() async throws {
        let (runner, reader) = try await runnerAndReader()
        defer {
            runner.loop.cancel()
            reader.loop.cancel()
        }
        let thread = try await runner.newThread()
        // The slow agent answers a token every 30 ms: the reader joins while it runs, from the first event on.
        let words = Array(repeating: "word", count: 40).joined(separator: " ")
        let created = try await runner.json("POST", "/threads/\(thread)/runs", ThreadHarness.input(words, agent: "slow", extra: #","stream_mode":["messages-tuple"]"#))
        let runID = try #require(created["run_id"] as? String)
        let started = ContinuousClock.now
        let joined = try await bodyText(reader.call("GET", "/threads/\(thread)/runs/\(runID)/stream"))
        let frames = parseSSE(joined)
        #expect(frames.first?.event == "metadata" && frames.last?.event == "end")
        #expect(frames.count > 20)
        // Each of the reader's waits is a minute without a notice; the run takes about 2 s.
        #expect(ContinuousClock.now - started < .seconds(45))
        #expect(try await runner.store.run(runID)?.workerID == "runner")
    }

    @Test func aThreadStreamOnAnotherWorkerIsToldOfANewRun() async throws {
        let (runner, reader) = try await runnerAndReader()
        defer {
            runner.loop.cancel()
            reader.loop.cancel()
        }
        let thread = try await runner.newThread()
        let stream = await reader.call("GET", "/threads/\(thread)/stream", headers: [("Last-Event-ID", "-1")])
        let writer = CollectingWriter()
        let reading = Task { try await bodyText(stream, writer: writer) }
        defer { reading.cancel() }
        // The reader has found the thread without runs and waits (a minute without a notice).
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        _ = try await runner.json("POST", "/threads/\(thread)/runs", ThreadHarness.input("told"))
        try await writer.waitForFrame("values")
        #expect(ContinuousClock.now - started < .seconds(45))
        #expect(writer.text.contains("told"))
    }

    /// A worker that runs and one that reads, whose fallback look is a minute; both listening.
    private func runnerAndReader() async throws -> (runner: ThreadHarness, reader: ThreadHarness) {
        let runner = try ThreadHarness(lease: .seconds(1200), workerID: "runner")
        let reader = try ThreadHarness(sharing: runner.path, lease: .seconds(1200), workerID: "reader", remotePoll: .seconds(60))
        try await settle(runner)
        return (runner, reader)
    }

    /// Both workers' followers are listening (a notice sent before is lost), and each loop has had its first look.
    private func settle(_ h: ThreadHarness) async throws {
        let directory = (h.path as NSString).standardizingPath + ".bells"
        _ = try await until(h) { _ in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".sock") }.count == 2
        }
        try await Task.sleep(for: .milliseconds(300))
    }

    private func until(_ h: ThreadHarness, _ condition: (ThreadHarness) async throws -> Bool) async throws -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(30) {
            if try await condition(h) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
