@testable import AgentFCGI
import Foundation
import Synchronization
import Testing

@Suite struct BatchingExecutorTests {
    /// The shape swift-otel uses: a producer yields into an `AsyncStream`, a consumer task on the executor reads it and
    /// hands each element to an actor. Every element arrives, in order, and the consumer ran on the executor's thread.
    @Test(.timeLimit(.minutes(1))) func everyHandOverArrivesInOrderOnTheExecutorsThread() async throws {
        let executor = try BatchingExecutor(name: "batch-test", linger: .milliseconds(5))
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let sink = Sink()
        let consumer = Task(executorPreference: executor) {
            for await value in stream { await sink.take(value, thread: Self.threadName()) }
        }
        for value in 0..<5000 {
            continuation.yield(value)
            if value % 1000 == 0 { try await Task.sleep(for: .milliseconds(30)) }  // the thread goes idle and is woken
        }
        continuation.finish()
        await consumer.value
        let (values, threads) = await sink.seen()
        #expect(values == Array(0..<5000))
        #expect(threads == ["batch-test"])
    }

    /// Idle, the thread sleeps: a task enqueued after a pause still runs.
    @Test(.timeLimit(.minutes(1))) func wakesAfterIdle() async throws {
        let executor = try BatchingExecutor(name: "batch-idle", linger: .milliseconds(1))
        for round in 0..<3 {
            try await Task.sleep(for: .milliseconds(50))
            let ran = await Task(executorPreference: executor) { Self.threadName() }.value
            #expect(ran == "batch-idle", "round \(round)")
        }
    }

    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    actor Sink {
        private var values: [Int] = []
        private var threads: Set<String> = []

        func take(_ value: Int, thread: String) {
            values.append(value)
            threads.insert(thread)
        }

        func seen() -> ([Int], Set<String>) { (values, threads) }
    }
}
