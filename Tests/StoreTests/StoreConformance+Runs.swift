import Foundation
import Store
import Testing

/// Runs on threads: multitask strategies, runs that start at once, cancellation, the event log, leases and the
/// background queue.
extension StoreConformance {
    func multitaskStrategies() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "a", threadID: "t", assistantID: "x"))
        await #expect(throws: StoreError.threadBusy(threadID: "t", runID: "a")) {
            _ = try await store.createRun(NewRun(id: "b", threadID: "t", assistantID: "x", multitaskStrategy: .reject))
        }
        #expect(try await store.run("b") == nil)
        #expect(try await store.claimRun("a", worker: "w", leaseUntil: clock.now + 10) == .claimed(try await store.run("a")!))

        // enqueue: waits its turn, in order.
        _ = try await store.createRun(NewRun(id: "c", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue))
        _ = try await store.createRun(NewRun(id: "d", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue))
        #expect(try await store.claimRun("c", worker: "w", leaseUntil: clock.now + 10) == .waiting)
        #expect(try await store.claimRun("d", worker: "w", leaseUntil: clock.now + 10) == .waiting)
        _ = try await store.finishRun("a", worker: "w", RunCompletion(status: .success, messages: [], result: "{}"))
        #expect(try await store.claimRun("d", worker: "w", leaseUntil: clock.now + 10) == .waiting)
        guard case .claimed = try await store.claimRun("c", worker: "w", leaseUntil: clock.now + 10) else {
            Issue.record("c is first in the queue"); return
        }

        // interrupt: the running run is told to stop at its next renewal; pending ones stop at once.
        _ = try await store.createRun(NewRun(id: "e", threadID: "t", assistantID: "x", multitaskStrategy: .interrupt))
        #expect(try await store.run("d")?.status == .interrupted)
        #expect(try await store.renewLeases(worker: "w", runs: ["c"], until: clock.now + 10) == ["c": .cancel(.interrupt)])
        #expect(try await store.claimRun("e", worker: "w", leaseUntil: clock.now + 10) == .waiting)
        _ = try await store.finishRun("c", worker: "w", RunCompletion(status: .interrupted, messages: [("p", "{}")], result: "{}"))
        // Cancelled, not paused for approval: nothing waits on the thread.
        #expect(try await store.thread("t")?.status == .idle)
        #expect(try await store.claimRun("d", worker: "w", leaseUntil: clock.now + 10) == .cancelled(try await store.run("d")))
        guard case .claimed = try await store.claimRun("e", worker: "w", leaseUntil: clock.now + 10) else {
            Issue.record("e follows the interrupted run"); return
        }

        // rollback: the running run is undone entirely, with its events.
        try await store.appendEvent(run: "e", EventRecord(seq: 1, event: "metadata", data: Array("{}".utf8)))
        _ = try await store.createRun(NewRun(id: "f", threadID: "t", assistantID: "x", multitaskStrategy: .rollback))
        #expect(try await store.renewLeases(worker: "w", runs: ["e"], until: clock.now + 10) == ["e": .cancel(.rollback)])
        #expect(try await store.finishRun("e", worker: "w", RunCompletion(status: .interrupted, messages: [("z", "{}")], result: "{}", rollback: true)))
        #expect(try await store.run("e") == nil)
        #expect(try await store.events(run: "e", after: 0, limit: 10).isEmpty)
        #expect(try await store.messages(thread: "t", limit: nil).map(\.body) == ["{}"])
        guard case .claimed = try await store.claimRun("f", worker: "w", leaseUntil: clock.now + 10) else {
            Issue.record("f follows the rolled-back run"); return
        }
        await #expect(throws: StoreError.runActive("f")) { _ = try await store.deleteRun("f") }
    }

    /// A run its creator starts now: the thread (when missing), the run and its start in one transaction, unless
    /// something runs or waits before it on its thread.
    func runsThatStartAtOnce() async throws {
        let store = try makeStore()
        var first = NewRun(id: "a", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue, worker: "w", leaseUntil: clock.now + 10)
        first.newThread = NewThread(id: "t", metadata: #"{"made":"with its run"}"#, tenant: "acme")
        first.startsAtOnce = true
        let a = try await store.createRun(first)
        #expect(a.status == .running && a.workerID == "w" && a.attempts == 1)
        // Its first attempt is on record as a claim would record it, and what came back is what is stored.
        let attempts = try JSONSerialization.jsonObject(with: Data(a.attemptLog.utf8)) as? [[String: Any]]
        #expect(attempts?.count == 1 && attempts?.first?["attempt"] as? Int == 1 && attempts?.first?["worker"] as? String == "w")
        #expect((attempts?.first?["started_at"] as? NSNumber)?.int64Value == Int64(clock.now.timeIntervalSince1970 * 1000))
        #expect(try await store.run("a") == a)
        let thread = try #require(try await store.thread("t"))
        #expect(thread.status == .busy && thread.tenant == "acme")
        #expect(try await store.claimRun("a", worker: "w", leaseUntil: clock.now + 10) == .claimed(a))

        // Behind a running run it waits for its turn, as any run; the thread that exists is kept as it is.
        var second = NewRun(id: "b", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue, worker: "w", leaseUntil: clock.now + 10)
        second.newThread = NewThread(id: "t", metadata: #"{"made":"again"}"#)
        second.startsAtOnce = true
        let waiting = try await store.createRun(second)
        #expect(waiting.status == .pending && waiting.attempts == 0 && waiting.attemptLog == "[]")
        #expect(try await store.run("b") == waiting)
        #expect(try await store.thread("t")?.metadata.contains("with its run") == true)
        #expect(try await store.claimRun("b", worker: "w", leaseUntil: clock.now + 10) == .waiting)
        _ = try await store.finishRun("a", worker: "w", RunCompletion(status: .success, messages: [], result: "{}"))
        guard case .claimed(let b) = try await store.claimRun("b", worker: "w", leaseUntil: clock.now + 10) else {
            Issue.record("b follows a"); return
        }
        #expect(b.attempts == 1)

        // Refused (the key's limit): neither the run nor its new thread is made.
        var refused = NewRun(id: "c", threadID: "u", assistantID: "x", worker: "w", leaseUntil: clock.now + 10)
        refused.newThread = NewThread(id: "u")
        refused.startsAtOnce = true
        refused.keyID = "k"
        refused.maxConcurrentRuns = 1
        var holder = NewRun(id: "h", threadID: nil, assistantID: "x", worker: "w", leaseUntil: clock.now + 10)
        holder.keyID = "k"
        holder.startsAtOnce = true
        #expect(try await store.createRun(holder).status == .running)
        await #expect(throws: StoreError.concurrentRunsExceeded(limit: 1)) { _ = try await store.createRun(refused) }
        #expect(try await store.thread("u") == nil)
        #expect(try await store.run("c") == nil)
    }

    /// Two stores on one database stand for two workers: racing `reject` creations yield exactly one run.
    func racingRejectCreatesOneRun() async throws {
        let first = try makeStore(), second = try makeStore()
        _ = try await first.createThread(NewThread(id: "t"), ifExists: .raise)
        for round in 0..<20 {
            let results = await withTaskGroup(of: Bool.self) { group in
                for (index, store) in [first, second, first, second].enumerated() {
                    group.addTask {
                        (try? await store.createRun(NewRun(id: "r\(round)-\(index)", threadID: "t", assistantID: "x"))) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1, "round \(round): \(results)")
            let active = try await first.runs(thread: "t", limit: 100, offset: 0, status: .pending)
            #expect(active.count == 1)
            for run in active { _ = try await first.requestCancel(run.id, action: .interrupt) }
        }
    }

    func cancellation() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "p", threadID: "t", assistantID: "x"))
        #expect(try await store.requestCancel("p", action: .interrupt)?.status == .interrupted)
        #expect(try await store.claimRun("p", worker: "w", leaseUntil: clock.now + 10) == .cancelled(try await store.run("p")))
        _ = try await store.createRun(NewRun(id: "q", threadID: "t", assistantID: "x"))
        #expect(try await store.requestCancel("q", action: .rollback)?.status == .interrupted)
        #expect(try await store.run("q") == nil)
        _ = try await store.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        _ = try await store.claimRun("r", worker: "w", leaseUntil: clock.now + 10)
        #expect(try await store.renewLeases(worker: "w", runs: ["r", "missing"], until: clock.now + 10) == ["r": .proceed, "missing": .gone])
        #expect(try await store.requestCancel("r", action: .interrupt)?.cancelAction == .interrupt)
        #expect(try await store.renewLeases(worker: "w", runs: ["r"], until: clock.now + 10) == ["r": .cancel(.interrupt)])
        // Another worker does not own it.
        #expect(try await store.renewLeases(worker: "other", runs: ["r"], until: clock.now + 10) == ["r": .gone])
        #expect(try await store.requestCancel("nope", action: .interrupt) == nil)
    }

    func eventLog() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        _ = try await store.createRun(NewRun(id: "e", threadID: nil, assistantID: "x"))
        for seq in 1...250 {
            try await store.appendEvent(run: "r", EventRecord(seq: seq, event: seq % 2 == 0 ? "messages" : "custom", data: Array("{\"n\":\(seq)}\n".utf8)))
        }
        await #expect(throws: StoreError.eventConflict(runID: "r", seq: 7)) {
            try await store.appendEvent(run: "r", EventRecord(seq: 7, event: "x", data: []))
        }
        await #expect(throws: StoreError.runNotFound("ghost")) {
            try await store.appendEvent(run: "ghost", EventRecord(seq: 1, event: "x", data: []))
        }
        #expect(try await store.lastEventSeq(run: "r") == 250)
        // A batch is one transaction: in order, and all or nothing when one of its numbers is taken.
        let batch = (251...260).map { EventRecord(seq: $0, event: "batch", data: Array("{\"b\":\($0)}".utf8)) }
        try await store.appendEvents(run: "r", batch)
        #expect(try await store.events(run: "r", after: 250, limit: 100) == batch)
        await #expect(throws: StoreError.self) {
            try await store.appendEvents(run: "r", (259...262).map { EventRecord(seq: $0, event: "x", data: []) })
        }
        #expect(try await store.lastEventSeq(run: "r") == 260)
        try await store.appendEvents(run: "r", [])
        try await store.appendEvents(run: "e", (1...3).map { EventRecord(seq: $0, event: "x", data: []) })
        #expect(try await store.events(run: "e", after: 0, limit: 10).map(\.seq) == [1, 2, 3])
        await #expect(throws: StoreError.runNotFound("ghost")) {
            try await store.appendEvents(run: "ghost", [EventRecord(seq: 1, event: "x", data: [])])
        }
        let page = try await store.events(run: "r", after: 100, limit: 100)
        #expect(page.map(\.seq) == Array(101...200))
        #expect(page[0] == EventRecord(seq: 101, event: "custom", data: Array("{\"n\":101}\n".utf8)))
        #expect(try await store.events(run: "r", after: 260, limit: 10).isEmpty)
        #expect(try await store.lastEventSeq(run: "none") == 0)
    }

    func expiredLeasesFreeTheThread() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        _ = try await store.claimRun("r", worker: "dead", leaseUntil: clock.now + 10)
        try await store.appendEvent(run: "r", EventRecord(seq: 1, event: "metadata", data: []))
        _ = try await store.createRun(NewRun(id: "next", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue,
                                             worker: "alive", leaseUntil: clock.now + 30))
        let closing: [(event: String, data: [UInt8])] = [("error", Array("lost".utf8)), ("end", Array("null".utf8))]
        let noDeliveries: @Sendable (RunRecord) -> [NewDelivery] = { _ in [] }
        let ending: @Sendable (RunRecord) -> LostRunEnding = { _ in LostRunEnding(result: #"{"error":"worker_lost"}"#, closing: closing) }
        #expect(try await store.expireLeases(now: clock.now, maxAttempts: 1, ending: ending, deliveries: noDeliveries).isEmpty)
        clock.advance(11)
        let expired = try await store.expireLeases(now: clock.now, maxAttempts: 1, ending: ending,
                                                   deliveries: { [NewDelivery(id: "d-\($0.id)", runID: $0.id, threadID: $0.threadID, url: "http://x", eventType: "run.failed", payload: [])] })
        #expect(expired.map(\.run.id) == ["r"])
        #expect(expired.first?.requeued == false)
        #expect(expired.first?.run.status == .error)
        #expect(try await store.deliveries(run: "r").map(\.eventType) == ["run.failed"])
        #expect(try await store.thread("t")?.status == .error)
        #expect(try await store.events(run: "r", after: 1, limit: 10).map(\.event) == ["error", "end"])
        #expect(try await store.renewLeases(worker: "dead", runs: ["r"], until: clock.now + 10) == ["r": .gone])
        #expect(try await store.renewLeases(worker: "alive", runs: ["next"], until: clock.now + 10) == ["next": .proceed])
        guard case .claimed = try await store.claimRun("next", worker: "alive", leaseUntil: clock.now + 10) else {
            Issue.record("the queue moves on after a lost run"); return
        }
        // Expiring twice changes nothing.
        clock.advance(1)
        #expect(try await store.expireLeases(now: clock.now, maxAttempts: 1, ending: ending, deliveries: noDeliveries).isEmpty)
    }

    func backgroundQueueAndTakeover() async throws {
        let store = try makeStore()
        let none: @Sendable (RunRecord) -> [NewDelivery] = { _ in [] }
        _ = try await store.createThread(NewThread(id: "t"), ifExists: .raise)
        var later = NewRun(id: "later", threadID: nil, assistantID: "x")
        later.background = true
        later.notBefore = clock.now + 60
        _ = try await store.createRun(later)
        for id in ["b1", "b2"] {
            var run = NewRun(id: id, threadID: "t", assistantID: "x", multitaskStrategy: .enqueue)
            run.background = true
            _ = try await store.createRun(run)
        }
        // Foreground runs (held by their creator) are not for the executors.
        _ = try await store.createRun(NewRun(id: "fg", threadID: nil, assistantID: "x", worker: "w0", leaseUntil: clock.now + 10))
        let first = try await store.claimNextRun(worker: "w1", leaseUntil: clock.now + 10, now: clock.now)
        #expect(first?.id == "b1" && first?.status == .running && first?.attempts == 1)
        // b2 waits for b1 on the same thread; "later" is not due.
        #expect(try await store.claimNextRun(worker: "w2", leaseUntil: clock.now + 10, now: clock.now) == nil)

        // w1 dies: b1 goes back to the queue and w2 takes it over as attempt 2.
        clock.advance(11)
        // The ending names what the run had done: only a run that started a call that must not run twice is told so.
        let ending: @Sendable (RunRecord) -> LostRunEnding = { run in
            LostRunEnding(result: run.sideEffects == nil ? #"{"error":"lost"}"# : #"{"error":"tool"}"#, closing: [])
        }
        let expired = try await store.expireLeases(now: clock.now, maxAttempts: 3, ending: ending, deliveries: none)
        #expect(Set(expired.map(\.run.id)) == ["b1", "fg"])
        #expect(expired.allSatisfy { $0.requeued })
        let retried = try await store.claimNextRun(worker: "w2", leaseUntil: clock.now + 10, now: clock.now)
        #expect(retried?.id == "b1" && retried?.attempts == 2 && retried?.workerID == "w2")
        let log = try JSONSerialization.jsonObject(with: Data(retried!.attemptLog.utf8)) as? [[String: Any]]
        #expect(log?.map { $0["worker"] as? String } == ["w1", "w2"])
        #expect(log?.first?["ended"] as? String == "worker_lost")
        #expect(try await store.renewLeases(worker: "w1", runs: ["b1"], until: clock.now + 10) == ["b1": .gone])
        await #expect(throws: StoreError.runNotFound("b1")) {
            try await store.recordSideEffect(run: "b1", worker: "w1", call: #"{"name":"mail"}"#)
        }
        // A non-idempotent tool call was started: a lost attempt is not repeated.
        try await store.recordSideEffect(run: "b1", worker: "w2", call: #"{"name":"mail"}"#)
        clock.advance(11)
        let failed = try await store.expireLeases(now: clock.now, maxAttempts: 3, ending: ending, deliveries: none)
        #expect(failed.first { $0.run.id == "b1" }?.requeued == false)
        #expect(try await store.run("b1")?.status == .error)
        #expect(try await store.run("b1")?.result?.contains(#""tool""#) == true)
        // The former foreground run was requeued as a background one, and "later" becomes due.
        clock.advance(60)
        let next = try await store.claimNextRun(worker: "w3", leaseUntil: clock.now + 10, now: clock.now)
        #expect(next?.id == "later")
        #expect(try await store.claimNextRun(worker: "w3", leaseUntil: clock.now + 10, now: clock.now)?.id == "b2")
        #expect(try await store.claimNextRun(worker: "w3", leaseUntil: clock.now + 10, now: clock.now)?.id == "fg")
    }
}
