import Foundation
import Store
import Testing

extension StoreConformance {
    /// A run paused for approval leaves it on its thread: only a run answering it may start, and only one; the
    /// thread and the paused run's events outlive TTL and pruning until it is answered.
    func pendingApprovals() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "t", ttl: .seconds(60)), ifExists: .raise)
        _ = try await store.createRun(NewRun(id: "paused", threadID: "t", assistantID: "x"))
        guard case .claimed = try await store.claimRun("paused", worker: "w", leaseUntil: clock.now + 10) else {
            Issue.record("the run must start"); return
        }
        try await store.appendEvent(run: "paused", EventRecord(seq: 1, event: "run.interrupt", data: Array("{}".utf8)))
        let approval = PendingApproval(id: "paused", body: #"{"id":"paused","calls":[]}"#)
        #expect(try await store.finishRun("paused", worker: "w", RunCompletion(status: .interrupted, messages: [("m1", "{}")],
                                                                                result: "{}", pendingApproval: approval)))
        let thread = try #require(try await store.thread("t"))
        #expect(thread.status == .interrupted)
        #expect(thread.pendingApproval == approval)

        // A run that does not answer it is refused; one answering another approval too.
        await #expect(throws: StoreError.approvalPending(threadID: "t", approvalID: "paused")) {
            _ = try await store.createRun(NewRun(id: "plain", threadID: "t", assistantID: "x"))
        }
        var wrong = NewRun(id: "wrong", threadID: "t", assistantID: "x")
        wrong.answersApproval = "other"
        await #expect(throws: StoreError.approvalNotPending(threadID: "t")) { _ = try await store.createRun(wrong) }

        // Kept past its TTL and the event retention while it waits.
        clock.advance(3600)
        _ = try await store.prune(now: clock.now, eventsBefore: clock.now)
        #expect(try await store.thread("t") != nil)
        #expect(try await store.events(run: "paused", after: 0, limit: 10).count == 1)

        // Two answers: one run.
        var first = NewRun(id: "answer-1", threadID: "t", assistantID: "x", multitaskStrategy: .enqueue)
        first.answersApproval = "paused"
        var second = first
        second.id = "answer-2"
        _ = try await store.createRun(first)
        await #expect(throws: StoreError.approvalNotPending(threadID: "t")) { _ = try await store.createRun(second) }
        #expect(try await store.thread("t")?.pendingApproval == nil)
        #expect(try await store.run("answer-2") == nil)
    }
}
