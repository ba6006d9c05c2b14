import Foundation
import Store
import Testing

/// The conformance cases of operations beside the thread and run basics: counts and pruning, state updates outside
/// runs, MCP call handles.
extension StoreConformance {
    /// Counting threads as a search finds them (per tenant, metadata, status); keeping only a thread's newest
    /// checkpoint, with its messages; a tenant's runs by status.
    func countPruneAndTenantRuns() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "a1", metadata: #"{"k":"v"}"#, tenant: "a"), ifExists: .raise)
        _ = try await store.createThread(NewThread(id: "a2", metadata: #"{"k":"w"}"#, tenant: "a"), ifExists: .raise)
        _ = try await store.createThread(NewThread(id: "b1", metadata: #"{"k":"v"}"#, tenant: "b"), ifExists: .raise)
        #expect(try await store.countThreads(ThreadQuery(tenant: "a")) == 2)
        #expect(try await store.countThreads(ThreadQuery(metadata: [(key: "k", value: #""v""#)], tenant: "a")) == 1)
        #expect(try await store.countThreads(ThreadQuery(metadata: [(key: "k", value: #""v""#)], tenant: "b")) == 1)
        #expect(try await store.countThreads(ThreadQuery(status: .busy, tenant: "a")) == 0)
        _ = try await store.addMessages(thread: "a1", [("m1", #"{"id":"m1","type":"human","content":"x"}"#)])
        _ = try await store.addMessages(thread: "a1", [("m2", #"{"id":"m2","type":"human","content":"y"}"#)])
        #expect(try await store.checkpoints(thread: "a1", limit: 10, before: nil).count == 2)
        #expect(try await store.pruneHistory(thread: "a1"))
        let kept = try await store.checkpoints(thread: "a1", limit: 10, before: nil)
        #expect(kept.count == 1 && kept.first?.messageCount == 2 && kept.first?.parentID == nil)
        #expect(try await store.messages(thread: "a1", limit: nil).count == 2)
        #expect(try await store.pruneHistory(thread: "nope") == false)
        _ = try await store.createRun(NewRun(id: "ra", threadID: "a2", assistantID: "x"))
        _ = try await store.createRun(NewRun(id: "rb", threadID: "b1", assistantID: "x"))
        #expect(try await store.runs(tenant: "a", status: .pending, limit: 10).map(\.id) == ["ra"])
        #expect(try await store.runs(tenant: "b", status: .pending, limit: 10).map(\.id) == ["rb"])
        #expect(try await store.runs(tenant: "a", status: .running, limit: 10).isEmpty)
    }

    /// A state update outside runs: removal closes the gap, a replacement keeps its place, additions append, keys
    /// merge; one checkpoint; refused whole while a run holds the thread.
    func stateUpdates() async throws {
        let store = try makeStore()
        _ = try await store.createThread(NewThread(id: "u"), ifExists: .raise)
        func body(_ id: String, _ text: String) -> JSONText { #"{"id":"\#(id)","type":"human","content":"\#(text)"}"# }
        _ = try await store.addMessages(thread: "u", [("m1", body("m1", "one")), ("m2", body("m2", "two")), ("m3", body("m3", "three"))])
        let checkpoint = try await store.updateState(thread: "u", removing: ["m2", "gone"], replacing: [("m3", body("m3", "THREE"))],
                                                     adding: [("m4", body("m4", "four"))], values: #"{"mood":"calm"}"#)
        let messages = try await store.messages(thread: "u", limit: nil)
        #expect(messages.map(\.seq) == [1, 2, 3])
        #expect(messages.map(\.body) == [body("m1", "one"), body("m3", "THREE"), body("m4", "four")])
        #expect(try json(try #require(try await store.thread("u")).values) == json(#"{"mood":"calm"}"#))
        let checkpoints = try await store.checkpoints(thread: "u", limit: 10, before: nil)
        #expect(checkpoints.map(\.id) == [checkpoint] && checkpoints.first?.messageCount == 3)
        // Only appending: the earlier checkpoint stays as the parent.
        let appended = try await store.updateState(thread: "u", removing: [], replacing: [], adding: [("m5", body("m5", "five"))], values: nil)
        #expect(try await store.checkpoints(thread: "u", limit: 10, before: nil).map(\.id) == [appended, checkpoint])
        _ = try await store.createRun(NewRun(id: "ru", threadID: "u", assistantID: "x"))
        await #expect(throws: StoreError.threadBusy(threadID: "u", runID: "ru")) {
            _ = try await store.updateState(thread: "u", removing: ["m1"], replacing: [], adding: [], values: #"{"mood":"x"}"#)
        }
        #expect(try await store.messages(thread: "u", limit: nil).count == 4)
        await #expect(throws: StoreError.threadNotFound("nope")) {
            _ = try await store.updateState(thread: "nope", removing: [], replacing: [], adding: [], values: nil)
        }
    }

    /// MCP call handles: one run per (key, request id), seen by every worker; a newer call takes the handle over, the
    /// older one ending leaves it be; pruned by when it was last bound.
    func callHandles() async throws {
        let store = try makeStore()
        let other = try makeStore()
        try await store.putCallHandle(scope: "k1", handle: "7", runID: "r1", now: clock.now)
        #expect(try await other.callHandle(scope: "k1", handle: "7") == "r1")
        #expect(try await other.callHandle(scope: "k2", handle: "7") == nil)
        #expect(try await other.callHandle(scope: "k1", handle: "8") == nil)
        clock.advance(10)
        try await other.putCallHandle(scope: "k1", handle: "7", runID: "r2", now: clock.now)
        #expect(try await store.callHandle(scope: "k1", handle: "7") == "r2")
        // Replaced, the handle counts as bound now: not pruned with what was bound before.
        #expect(try await store.pruneCallHandles(before: clock.now - 5) == 0)
        try await store.removeCallHandle(scope: "k1", handle: "7", runID: "r1")
        #expect(try await store.callHandle(scope: "k1", handle: "7") == "r2")
        try await store.removeCallHandle(scope: "k1", handle: "7", runID: "r2")
        #expect(try await store.callHandle(scope: "k1", handle: "7") == nil)
        try await store.removeCallHandle(scope: "k1", handle: "7", runID: "r2")

        try await store.putCallHandle(scope: "k1", handle: "old", runID: "r3", now: clock.now)
        clock.advance(10)
        try await store.putCallHandle(scope: "k2", handle: "new", runID: "r4", now: clock.now)
        #expect(try await other.pruneCallHandles(before: clock.now) == 1)
        #expect(try await store.callHandle(scope: "k1", handle: "old") == nil)
        #expect(try await store.callHandle(scope: "k2", handle: "new") == "r4")
    }

    /// A secret is made once: whichever store asks first keeps its candidate, every later ask gets that one.
    func secrets() async throws {
        let store = try makeStore()
        let other = try makeStore()
        let first: [UInt8] = [0, 1, 2, 255, 128, 7]
        #expect(try await store.secret(named: "mcp-state", candidate: first) == first)
        #expect(try await other.secret(named: "mcp-state", candidate: [9, 9, 9]) == first)
        #expect(try await other.secret(named: "another", candidate: [9, 9, 9]) == [9, 9, 9])
        #expect(try await store.secret(named: "mcp-state", candidate: []) == first)
    }
}
