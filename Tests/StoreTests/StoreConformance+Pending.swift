import Foundation
import Store
import Testing

extension StoreConformance {
    /// A key's runs waiting in the queue are capped in the transaction that creates one; a run that starts makes room.
    func pendingRunsPerKeyAreCapped() async throws {
        let store = try makeStore()
        func queue(_ id: String, key: String) async throws -> RunRecord {
            _ = try await store.createThread(NewThread(id: "t-\(id)"), ifExists: .raise)
            var run = NewRun(id: id, threadID: "t-\(id)", assistantID: "x")
            run.background = true
            run.keyID = key
            run.maxPendingRuns = 2
            return try await store.createRun(run)
        }
        _ = try await queue("a", key: "k")
        _ = try await queue("b", key: "k")
        await #expect(throws: StoreError.pendingRunsExceeded(limit: 2)) { _ = try await queue("c", key: "k") }
        // Another key has its own count.
        _ = try await queue("d", key: "other")
        // One starts: there is room again.
        guard case .claimed = try await store.claimRun("a", worker: "w", leaseUntil: clock.now + 60) else {
            Issue.record("the run should start"); return
        }
        _ = try await queue("e", key: "k")
        #expect(try await store.run("c") == nil)
    }
}
