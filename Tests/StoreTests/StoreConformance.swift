import Foundation
import Store
import Synchronization
import Testing

/// A clock the tests move by hand, so that leases and TTLs expire without sleeping.
final class ManualNow: Sendable {
    private let value = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { value.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { value.withLock { $0 += seconds } }
}

/// What every store implementation must do. Each check gets fresh, empty stores; `makeStore` may be called twice
/// for the same database to stand for two worker processes.
struct StoreConformance {
    let makeStore: @Sendable () throws -> any AgentStore
    let clock: ManualNow

    func threadsLifecycle() async throws {
        let store = try makeStore()
        let created = try await store.createThread(NewThread(id: "t1", metadata: #"{"user":"ann","n":1}"#), ifExists: .raise)
        #expect(created.status == .idle)
        #expect(created.createdAt == clock.now)
        await #expect(throws: StoreError.threadExists("t1")) {
            _ = try await store.createThread(NewThread(id: "t1"), ifExists: .raise)
        }
        let same = try await store.createThread(NewThread(id: "t1", metadata: #"{"other":true}"#), ifExists: .doNothing)
        #expect(same == created)

        clock.advance(5)
        let updated = try await store.updateThread("t1", metadata: #"{"n":2,"tag":"x"}"#, ttl: nil)
        #expect(try json(updated.metadata) == json(#"{"user":"ann","n":2,"tag":"x"}"#))
        #expect(updated.updatedAt == clock.now)
        await #expect(throws: StoreError.threadNotFound("nope")) {
            _ = try await store.updateThread("nope", metadata: "{}", ttl: nil)
        }

        _ = try await store.createThread(NewThread(id: "t2", metadata: #"{"user":"bob","n":2}"#), ifExists: .raise)
        _ = try await store.createThread(NewThread(id: "t3", metadata: #"{"user":"ann","n":"2"}"#), ifExists: .raise)
        #expect(try await store.searchThreads(ThreadQuery(metadata: [("user", #""ann""#)])).map(\.id).sorted() == ["t1", "t3"])
        // 2 and "2" are different values.
        #expect(try await store.searchThreads(ThreadQuery(metadata: [("n", "2")])).map(\.id).sorted() == ["t1", "t2"])
        #expect(try await store.searchThreads(ThreadQuery(metadata: [("user", #""ann""#), ("n", #""2""#)])).map(\.id) == ["t3"])
        #expect(try await store.searchThreads(ThreadQuery(metadata: [("a.b", "1")])).isEmpty)
        #expect(try await store.searchThreads(ThreadQuery(limit: 2)).count == 2)
        #expect(try await store.searchThreads(ThreadQuery(limit: 10, offset: 2)).count == 1)
        #expect(try await store.searchThreads(ThreadQuery(status: .busy)).isEmpty)

        #expect(try await store.deleteThread("t2"))
        #expect(try await !store.deleteThread("t2"))
        #expect(try await store.thread("t2") == nil)
    }

    func runOnThreadAppendsMessagesAndCheckpoints() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        let run = try await store.createRun(NewRun(id: "r1", threadID: "t", assistantID: "echo"))
        #expect(run.status == .pending)
        guard case .claimed(let claimed) = try await store.claimRun("r1", worker: "w1", leaseUntil: clock.now + 10) else {
            Issue.record("the only run of an idle thread must start"); return
        }
        #expect(claimed.status == .running && claimed.attempts == 1 && claimed.workerID == "w1")
        #expect(try await store.thread("t")?.status == .busy)
        // Only its worker may finish it, and a refused finish appends nothing.
        try await store.appendEvent(run: "r1", EventRecord(seq: 1, event: "values", data: Array("{}".utf8)))
        let end = EventRecord(seq: 2, event: "end", data: Array("null".utf8))
        #expect(try await !store.finishRun("r1", worker: "w2", RunCompletion(status: .success, messages: [], result: "{}", closingEvents: [end])))
        #expect(try await store.events(run: "r1", after: 0, limit: 10).map(\.event) == ["values"])
        let done = RunCompletion(status: .success, messages: [("m1", #"{"c":"hi"}"#), ("m2", #"{"c":"hello"}"#)], result: #"{"usage":1}"#,
                                 closingEvents: [end])
        #expect(try await store.finishRun("r1", worker: "w1", done))
        // The run's end and its log's `end` in one transaction: whoever sees it finished finds the `end` too.
        #expect(try await store.events(run: "r1", after: 0, limit: 10) == [EventRecord(seq: 1, event: "values", data: Array("{}".utf8)), end])
        #expect(try await store.thread("t")?.status == .idle)
        #expect(try await store.run("r1")?.status == .success)
        #expect(try await store.run("r1")?.result.map(json) == json(#"{"usage":1}"#))

        _ = try await store.createRun(NewRun(id: "r2", threadID: "t", assistantID: "echo"))
        _ = try await store.claimRun("r2", worker: "w1", leaseUntil: clock.now + 10)
        #expect(try await store.finishRun("r2", worker: "w1", RunCompletion(status: .error, messages: [("m3", #"{"c":"q"}"#)], result: "{}")))
        #expect(try await store.thread("t")?.status == .error)

        let messages = try await store.messages(thread: "t", limit: nil)
        #expect(messages.map(\.seq) == [1, 2, 3])
        #expect(messages.map(\.runID) == ["r1", "r1", "r2"])
        #expect(try await store.messages(thread: "t", limit: 2).map(\.body) == [#"{"c":"hi"}"#, #"{"c":"hello"}"#])
        #expect(try await store.threadWithMessages("t").messages == messages)
        let checkpoints = try await store.checkpoints(thread: "t", limit: 10, before: nil)
        #expect(checkpoints.map(\.messageCount) == [3, 2])
        #expect(checkpoints.map(\.runID) == ["r2", "r1"])
        #expect(checkpoints[0].parentID == checkpoints[1].id && checkpoints[1].parentID == nil)
        #expect(try await store.checkpoints(thread: "t", limit: 10, before: checkpoints[0].id).map(\.id) == [checkpoints[1].id])
        #expect(try await store.runs(thread: "t", limit: 10, offset: 0, status: nil).map(\.id) == ["r2", "r1"])
        #expect(try await store.runs(thread: "t", limit: 10, offset: 0, status: .success).map(\.id) == ["r1"])

        #expect(try await store.deleteRun("r1"))
        #expect(try await store.run("r1") == nil)
        #expect(try await store.deleteThread("t"))
        #expect(try await store.run("r2") == nil)
        #expect(try await store.messages(thread: "t", limit: nil).isEmpty)
    }

    func webhookDeliveries() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        _ = try await store.claimRun("r", worker: "w", leaseUntil: clock.now + 10)
        let delivery = NewDelivery(id: "msg_1", runID: "r", threadID: "t", url: "http://127.0.0.1:9/hook", eventType: "run.completed", payload: Array("{}".utf8))
        _ = try await store.finishRun("r", worker: "w", RunCompletion(status: .success, messages: [], result: "{}", deliveries: [delivery]))
        #expect(try await nextDue(store) == 0)
        let due = try await store.claimDueDeliveries(worker: "d1", now: clock.now, leaseUntil: clock.now + 30, limit: 10)
        #expect(due.map(\.id) == ["msg_1"] && due.first?.payload == Array("{}".utf8))
        // Leased: another dispatcher does not get it meanwhile.
        #expect(try await store.claimDueDeliveries(worker: "d2", now: clock.now, leaseUntil: clock.now + 30, limit: 10).isEmpty)
        // Due again when the lease ends (a dead dispatcher's), then at the retry it scheduled, then never.
        #expect(try await nextDue(store) == 30)
        try await store.recordDeliveryAttempt("msg_1", worker: "d1", DeliveryAttempt(attempt: 1, at: clock.now, statusCode: 500, error: nil, durationMilliseconds: 3),
                                              delivered: false, next: clock.now + 5)
        #expect(try await nextDue(store) == 5)
        #expect(try await store.claimDueDeliveries(worker: "d2", now: clock.now, leaseUntil: clock.now + 30, limit: 10).isEmpty)
        clock.advance(5)
        #expect(try await store.claimDueDeliveries(worker: "d2", now: clock.now, leaseUntil: clock.now + 30, limit: 10).map(\.attempts) == [1])
        try await store.recordDeliveryAttempt("msg_1", worker: "d2", DeliveryAttempt(attempt: 2, at: clock.now, statusCode: 204, error: nil, durationMilliseconds: 2),
                                              delivered: true, next: nil)
        let log = try await store.deliveries(run: "r")
        #expect(log.first?.status == .delivered)
        #expect(log.first?.log.map(\.statusCode) == [500, 204])
        #expect(try await store.nextDeliveryDue() == nil)
        clock.advance(100)
        #expect(try await store.claimDueDeliveries(worker: "d3", now: clock.now, leaseUntil: clock.now + 30, limit: 10).isEmpty)
    }

    /// Seconds from the store's clock to its next due delivery, to the millisecond it keeps.
    private func nextDue(_ store: any AgentStore) async throws -> Double? {
        try await store.nextDeliveryDue().map { (($0.timeIntervalSince(clock.now)) * 1000).rounded() / 1000 }
    }

    func idempotencyKeys() async throws {
        let store = try makeStore()
        #expect(try await store.claimIdempotency(scope: "a", key: "k", requestHash: "h1", now: clock.now) == .new)
        #expect(try await store.claimIdempotency(scope: "a", key: "k", requestHash: "h1", now: clock.now) == .inProgress)
        #expect(try await store.claimIdempotency(scope: "a", key: "k", requestHash: "h2", now: clock.now) == .mismatch)
        // Keys are per caller.
        #expect(try await store.claimIdempotency(scope: "b", key: "k", requestHash: "h2", now: clock.now) == .new)
        let response = IdempotentResponse(status: 202, headers: #"[["Content-Location","/runs/1"]]"#, body: Array("{}".utf8))
        try await store.completeIdempotency(scope: "a", key: "k", response)
        #expect(try await store.claimIdempotency(scope: "a", key: "k", requestHash: "h1", now: clock.now) == .replay(response))
        try await store.releaseIdempotency(scope: "b", key: "k")
        #expect(try await store.claimIdempotency(scope: "b", key: "k", requestHash: "h3", now: clock.now) == .new)
        clock.advance(10)
        #expect(try await store.pruneIdempotency(before: clock.now) == 2)
        #expect(try await store.claimIdempotency(scope: "a", key: "k", requestHash: "h9", now: clock.now) == .new)
    }

    func pruning() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "short", ttl: .seconds(60)), ifExists: .raise)
        _ = try await store.createThread(NewThread(id: "kept"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "old", threadID: "kept", assistantID: "x"))
        _ = try await store.claimRun("old", worker: "w", leaseUntil: clock.now + 10)
        try await store.appendEvent(run: "old", EventRecord(seq: 1, event: "end", data: []))
        _ = try await store.finishRun("old", worker: "w", RunCompletion(status: .success, messages: [], result: "{}"))
        clock.advance(30)
        #expect(try await store.updateThread("short", metadata: nil, ttl: nil).expiresAt == clock.now + 60)
        clock.advance(45)
        #expect(try await store.prune(now: clock.now, eventsBefore: clock.now - 3600) == (0, 0))
        clock.advance(20)
        let pruned = try await store.prune(now: clock.now, eventsBefore: clock.now)
        #expect(pruned == (1, 1))
        #expect(try await store.thread("short") == nil)
        #expect(try await store.thread("kept") != nil)
        #expect(try await store.run("old")?.status == .success)
        #expect(try await store.events(run: "old", after: 0, limit: 10).isEmpty)
    }

    /// Jobs: stored with the run; runs queued without one are listed (pending only) and given one once.
    /// Active runs are counted per key on every worker.
    func jobsAndKeyCounts() async throws {
        let store = try makeStore()
        var typed = NewRun(id: "typed", threadID: nil, assistantID: "x")
        typed.job = #"{"version":1}"#
        typed.keyID = "k1"
        typed.background = true
        _ = try await store.createRun(typed)
        #expect(try await store.run("typed")?.job == #"{"version":1}"#)
        for id in ["old1", "old2"] {
            var old = NewRun(id: id, threadID: nil, assistantID: "x")
            old.background = true
            old.keyID = "k1"
            _ = try await store.createRun(old)
        }
        var other = NewRun(id: "other", threadID: nil, assistantID: "x")
        other.keyID = "k2"
        _ = try await store.createRun(other)
        // k1 has 3 active runs, k2 one, "none" none: a place is free below those counts only.
        #expect(try await store.takeRunPlace("k1-full", key: "k1", limit: 3, until: clock.now + 10) == false)
        #expect(try await store.takeRunPlace("k2-free", key: "k2", limit: 2, until: clock.now + 10))
        #expect(try await store.takeRunPlace("none-free", key: "none", limit: 1, until: clock.now + 10))
        #expect(try await store.runsWithoutJob(limit: 10).map(\.id) == ["old1", "old2", "other"])
        #expect(try await store.runsWithoutJob(limit: 1).map(\.id) == ["old1"])
        #expect(try await store.setJob(run: "old1", #"{"version":1,"agent_id":"x"}"#))
        #expect(try await store.setJob(run: "old1", #"{"version":2}"#) == false)
        #expect(try await store.setJob(run: "typed", #"{"version":2}"#) == false)
        #expect(try await store.setJob(run: "missing", "{}") == false)
        #expect(try await store.run("old1")?.job == #"{"version":1,"agent_id":"x"}"#)
        // A run that started is not queued any more; a finished one no longer counts.
        for expected in ["typed", "old1", "old2"] {
            #expect(try await store.claimNextRun(worker: "w", leaseUntil: clock.now + 10, now: clock.now)?.id == expected)
        }
        #expect(try await store.runsWithoutJob(limit: 10).map(\.id) == ["other"])
        #expect(try await store.finishRun("typed", worker: "w", RunCompletion(status: .success, messages: [], result: "{}")))
        #expect(try await store.takeRunPlace("k1-room", key: "k1", limit: 3, until: clock.now + 10))
        #expect(try await store.takeRunPlace("k1-over", key: "k1", limit: 3, until: clock.now + 10) == false)
    }

    /// Messages written outside runs: appended with a checkpoint; one removed from the middle closes the gap and
    /// leaves one checkpoint; neither while a run holds the thread.
    func messagesOutsideRuns() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "c"), ifExists: .raise)
        let added = try await store.addMessages(thread: "c", [("m1", #"{"id":"m1"}"#), ("m2", #"{"id":"m2"}"#), ("m3", #"{"id":"m3"}"#)])
        #expect(added.map(\.seq) == [1, 2, 3])
        #expect(try await store.checkpoints(thread: "c", limit: 10, before: nil).map(\.messageCount) == [3])
        _ = try await store.addMessages(thread: "c", [("m4", #"{"id":"m4"}"#)])
        #expect(try await store.checkpoints(thread: "c", limit: 10, before: nil).map(\.messageCount) == [4, 3])
        #expect(try await store.removeMessage(thread: "c", messageID: "m2"))
        #expect(try await store.removeMessage(thread: "c", messageID: "m2") == false)
        #expect(try await store.messages(thread: "c", limit: nil).map(\.body) == [#"{"id":"m1"}"#, #"{"id":"m3"}"#, #"{"id":"m4"}"#])
        #expect(try await store.messages(thread: "c", limit: nil).map(\.seq) == [1, 2, 3])
        #expect(try await store.checkpoints(thread: "c", limit: 10, before: nil).map(\.messageCount) == [3])
        await #expect(throws: StoreError.threadNotFound("nope")) { try await store.addMessages(thread: "nope", []) }
        // Cut back to the first two: the rest go, one checkpoint of what is kept.
        #expect(try await store.truncateMessages(thread: "c", keeping: 2, by: nil) == 1)
        #expect(try await store.truncateMessages(thread: "c", keeping: 2, by: nil) == 0)
        #expect(try await store.messages(thread: "c", limit: nil).map(\.body) == [#"{"id":"m1"}"#, #"{"id":"m3"}"#])
        #expect(try await store.checkpoints(thread: "c", limit: 10, before: nil).map(\.messageCount) == [2])
        // The thread and its messages in one read: the same as the two reads.
        let both = try await store.threadWithMessages("c")
        #expect(both.thread == (try await store.thread("c")))
        #expect(both.messages.map(\.body) == [#"{"id":"m1"}"#, #"{"id":"m3"}"#])
        #expect(both.messages.map(\.seq) == [1, 2])
        #expect(both.messages.map(\.runID) == [nil, nil])
        let none = try await store.threadWithMessages("nope")
        #expect(none.thread == nil && none.messages.isEmpty)
        _ = try await store.createRun(NewRun(id: "busy", threadID: "c", assistantID: "x"))
        await #expect(throws: StoreError.threadBusy(threadID: "c", runID: "busy")) {
            try await store.addMessages(thread: "c", [("m5", "{}")])
        }
        await #expect(throws: StoreError.threadBusy(threadID: "c", runID: "busy")) {
            try await store.removeMessage(thread: "c", messageID: "m1")
        }
        await #expect(throws: StoreError.threadBusy(threadID: "c", runID: "busy")) {
            try await store.truncateMessages(thread: "c", keeping: 0, by: nil)
        }
        // The run that holds the thread may cut it.
        #expect(try await store.truncateMessages(thread: "c", keeping: 1, by: "busy") == 1)
    }

    /// A run stamps its thread's metadata and sets state keys on it as it is created; a thread's runs are read in
    /// queue order, and queue places are never reused.
    func threadStampsValuesAndQueueOrder() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "s", metadata: #"{"user":"ann"}"#), ifExists: .raise)
        #expect(try await store.thread("s")?.values == "{}")
        var first = NewRun(id: "r1", threadID: "s", assistantID: "x", multitaskStrategy: .enqueue)
        first.threadMetadata = #"{"graph_id":"x","assistant_id":"x"}"#
        first.threadValues = #"{"count":1,"ui":{"open":true}}"#
        let r1 = try await store.createRun(first)
        var second = NewRun(id: "r2", threadID: "s", assistantID: "y", multitaskStrategy: .enqueue)
        second.threadMetadata = #"{"graph_id":"y","assistant_id":"y"}"#
        second.threadValues = #"{"ui":{"closed":true},"extra":[1,2]}"#
        let r2 = try await store.createRun(second)
        let thread = try #require(try await store.thread("s"))
        #expect(try json(thread.metadata) == json(#"{"user":"ann","graph_id":"y","assistant_id":"y"}"#))
        // Each key is replaced whole (no deep merge): LangGraph's last-write-wins for keys without a reducer.
        #expect(try json(thread.values) == json(#"{"count":1,"ui":{"closed":true},"extra":[1,2]}"#))
        #expect(r1.queueSeq > 0 && r2.queueSeq > r1.queueSeq)
        #expect(try await store.runs(thread: "s", afterQueueSeq: 0, limit: 10).map(\.id) == ["r1", "r2"])
        #expect(try await store.runs(thread: "s", afterQueueSeq: r1.queueSeq, limit: 10).map(\.id) == ["r2"])
        #expect(try await store.runs(thread: "s", afterQueueSeq: 0, limit: 1).map(\.queueSeq) == [r1.queueSeq])
        // Past the bound, the run is refused and the thread keeps what it had.
        var huge = NewRun(id: "r3", threadID: "s", assistantID: "x", multitaskStrategy: .enqueue)
        huge.threadValues = "{\"blob\":\"" + String(repeating: "x", count: StoreLimits.maxThreadValuesBytes) + "\"}"
        await #expect(throws: StoreError.threadValuesTooLarge("s", limit: StoreLimits.maxThreadValuesBytes)) {
            _ = try await store.createRun(huge)
        }
        #expect(try await store.run("r3") == nil)
        #expect(try json(try #require(try await store.thread("s")).values) == json(#"{"count":1,"ui":{"closed":true},"extra":[1,2]}"#))
        // A deleted run's place is not given again.
        _ = try await store.requestCancel("r2", action: .rollback)
        let r4 = try await store.createRun(NewRun(id: "r4", threadID: "s", assistantID: "x", multitaskStrategy: .enqueue))
        #expect(r4.queueSeq > r2.queueSeq)
    }
}

func json(_ text: String) throws -> NSDictionary {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSDictionary
}
