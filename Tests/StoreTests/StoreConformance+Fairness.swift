import Foundation
import Store
import Testing

extension StoreConformance {
    /// The queue is shared fairly: the next background run is of the tenant with the fewest running runs, then the
    /// oldest. One tenant's long queue no longer holds back another's run queued after it.
    func claimingIsFairAcrossTenants() async throws {
        let store = try makeStore()
        func queue(_ id: String, thread: String, tenant: String) async throws {
            _ = try await store.createThread(NewThread(id: thread, tenant: tenant), ifExists: .doNothing)
            var run = NewRun(id: id, threadID: thread, assistantID: "x", multitaskStrategy: .enqueue)
            run.background = true
            _ = try await store.createRun(run)
            clock.advance(1)
        }
        for index in 1...4 { try await queue("a\(index)", thread: "ta\(index)", tenant: "a") }
        try await queue("b1", thread: "tb1", tenant: "b")
        try await queue("b2", thread: "tb2", tenant: "b")
        try await queue("c1", thread: "tc1", tenant: "c")
        var order: [String] = []
        while let run = try await store.claimNextRun(worker: "w", leaseUntil: clock.now + 60, now: clock.now) {
            order.append(run.id)
        }
        // a1 first (all idle, oldest); then b1 and c1 (their tenants run nothing), then by running count and age.
        #expect(order == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"], "\(order)")

        // A tenant's finished runs do not count against it: only running ones do.
        try await queue("a5", thread: "ta5", tenant: "a")
        try await queue("b3", thread: "tb3", tenant: "b")
        for id in ["a1", "a2", "a3", "a4"] {
            #expect(try await store.finishRun(id, worker: "w", RunCompletion(status: .success, messages: [], result: "{}")))
        }
        #expect(try await store.claimNextRun(worker: "w", leaseUntil: clock.now + 60, now: clock.now)?.id == "a5")
    }
}
