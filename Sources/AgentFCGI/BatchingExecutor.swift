import Foundation
import Transport

/// The executor of the trace exporter's tasks (swift-otel's tracer loop, batch processor and export): one thread of
/// its own that runs them in batches.
///
/// swift-otel hands every span start and end to its loops through `AsyncStream`s. On the global executor each hand-over
/// resumes a parked task, and so wakes a thread: several wake-ups per span, which cost more CPU than the span itself
/// (bench/README.md, Tracing). Here a hand-over only appends to a list; the thread is woken when the list goes from
/// empty to not empty, then waits `linger` so that the spans of that time are handled in one pass. Spans reach the
/// collector at most `linger` later, inside the processor's one-second batches anyway. Idle, the thread sleeps.
final class BatchingExecutor: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var idle = false
    private let condition = NSCondition()
    private let linger: TimeInterval
    private var thread: NativeThread?  // lives as long as the process

    init(name: String, linger: Duration = .milliseconds(20)) throws {
        self.linger = Double(linger.components.seconds) + Double(linger.components.attoseconds) / 1e18
        thread = try NativeThread(name: name) { [unowned self] in self.loop() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        let wake = idle
        idle = false
        condition.unlock()
        if wake { condition.signal() }
    }

    private func loop() {
        let executor = asUnownedTaskExecutor()
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty {
                idle = true
                condition.wait()
            }
            idle = false
            // Nobody signals while not idle: this waits out the linger.
            _ = condition.wait(until: Date(timeIntervalSinceNow: linger))
            condition.unlock()
            // Jobs the batch enqueues (the next loop's resumption) run in the same pass.
            while true {
                condition.lock()
                swap(&batch, &jobs)
                condition.unlock()
                if batch.isEmpty { break }
                for job in batch { job.runSynchronously(on: executor) }
                batch.removeAll(keepingCapacity: true)
            }
        }
    }
}
