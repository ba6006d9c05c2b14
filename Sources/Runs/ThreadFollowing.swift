import Store

/// Where a reader of a thread's events (all its runs, one after another) starts.
public enum ThreadStart: Sendable, Equatable {
    /// With the runs queued after this place (`RunRecord.queueSeq`).
    case after(queueSeq: Int64)
    /// With the oldest run still pending or running when the reader comes; without one, with the next run created.
    /// Finished runs are not replayed: a client that attaches to a thread wants what happens now, not its past.
    case active
}

extension RunEngine {
    /// How often an idle thread reader looks for a run created by another process when the store sends no notices
    /// (`remotePoll` when it does).
    static let threadPoll: Duration = .milliseconds(250)

    static func threadBell(_ threadID: String) -> String { "thread:" + threadID }

    /// Hands `deliver` the logged events of the thread's runs in queue order, each run's to its end, then waits for
    /// the next run, until the reader leaves (cancellation) or the thread is deleted. Runs on a thread run one at a
    /// time in queue order, so their events never interleave.
    public func followThread(_ threadID: String, from start: ThreadStart,
                             _ deliver: (RunRecord, EventRecord) async throws -> Void) async throws {
        var after: Int64
        switch start {
        case .after(let queueSeq):
            after = queueSeq
        case .active:
            let recent = try await store.runs(thread: threadID, limit: 100, offset: 0, status: nil)
            after = if let oldestActive = recent.last(where: { $0.status.isActive }) { oldestActive.queueSeq - 1 }
                else { recent.first?.queueSeq ?? 0 }
        }
        let bellKey = Self.threadBell(threadID)
        let bell = acquireBell(bellKey)
        defer { releaseBell(bellKey) }
        var idlePolls = 0
        while true {
            let generation = bell.generation
            let runs = try await store.runs(thread: threadID, afterQueueSeq: after, limit: 32)
            for run in runs {
                _ = try await follow(run.id, after: 0) { record in try await deliver(run, record) }
                after = run.queueSeq
            }
            if runs.isEmpty {
                idlePolls += 1
                if idlePolls % (notices == nil ? 40 : 10) == 0, try await store.thread(threadID) == nil { return }
                await bell.wait(since: generation, timeout: notices == nil ? Self.threadPoll : remotePoll, watchdog: watchdog)
                try Task.checkCancellation()
            } else {
                idlePolls = 0
            }
        }
    }
}
