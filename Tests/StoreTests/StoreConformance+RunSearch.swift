import Foundation
import Store
import Testing

extension StoreConformance {
    /// A tenant's runs across its threads, newest first (ties by id, descending): each filter alone and together,
    /// metadata by top-level JSON value (2 and "2" differ), offset and limit; never another tenant's run, nor a run
    /// without a thread.
    func runSearch() async throws {
        let store = try makeStore(), other = try makeStore()
        for (id, tenant) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            _ = try await store.createThread(NewThread(id: id, tenant: tenant), ifExists: .raise)
        }
        func create(_ id: String, _ thread: String?, _ assistant: String, _ metadata: JSONText,
                    _ strategy: MultitaskStrategy = .reject) async throws {
            _ = try await store.createRun(NewRun(id: id, threadID: thread, assistantID: assistant, metadata: metadata,
                                                 multitaskStrategy: strategy))
        }
        func finish(_ id: String, _ status: RunStatus) async throws {
            _ = try await store.claimRun(id, worker: "w", leaseUntil: clock.now + 60)
            #expect(try await store.finishRun(id, worker: "w", RunCompletion(status: status, messages: [], result: "{}")))
        }
        clock.advance(1)
        try await create("r1", "a1", "echo", #"{"n":2,"tag":"x"}"#)
        try await finish("r1", .success)
        clock.advance(1)
        try await create("r2", "a1", "helper", #"{"n":"2"}"#)
        _ = try await store.claimRun("r2", worker: "w", leaseUntil: clock.now + 60)
        clock.advance(1)
        try await create("r3", "a2", "echo", #"{"n":"2","tag":"x"}"#)
        try await finish("r3", .error)
        clock.advance(1)
        try await create("rb", "b1", "echo", #"{"n":2,"tag":"x"}"#)
        try await create("r4", "a2", "helper", #"{"n":2}"#)
        // r5 and r6 at the same moment: the id breaks the tie.
        clock.advance(1)
        try await create("r5", "a1", "echo", #"{"tag":"y","nested":{"n":2}}"#, .enqueue)
        try await create("r6", "a2", "echo", "{}", .enqueue)
        clock.advance(1)
        try await create("rx", nil, "echo", #"{"n":2}"#)

        func ids(_ query: RunQuery) async throws -> [String] { try await other.searchRuns(query).map(\.id) }
        func a(thread: String? = nil, assistant: String? = nil, status: RunStatus? = nil,
               metadata: [(key: String, value: JSONText)] = [], limit: Int = 10, offset: Int = 0) -> RunQuery {
            RunQuery(tenant: "a", threadID: thread, assistantID: assistant, status: status, metadata: metadata, limit: limit,
                     offset: offset)
        }

        // Whole records, as `run` reads them, newest first.
        let all = try await other.searchRuns(a())
        #expect(all.map(\.id) == ["r6", "r5", "r4", "r3", "r2", "r1"])
        var stored: [RunRecord] = []
        for id in ["r6", "r5", "r4", "r3", "r2", "r1"] { stored.append(try #require(try await store.run(id))) }
        #expect(all == stored)
        #expect(all.map(\.status) == [.pending, .pending, .pending, .error, .running, .success])

        // Each filter alone; metadata only at the top level (r5's nested n is not n).
        #expect(try await ids(a(thread: "a1")) == ["r5", "r2", "r1"])
        #expect(try await ids(a(thread: "a2")) == ["r6", "r4", "r3"])
        #expect(try await ids(a(assistant: "helper")) == ["r4", "r2"])
        #expect(try await ids(a(assistant: "echo")) == ["r6", "r5", "r3", "r1"])
        #expect(try await ids(a(status: .pending)) == ["r6", "r5", "r4"])
        #expect(try await ids(a(status: .running)) == ["r2"])
        #expect(try await ids(a(status: .success)) == ["r1"])
        #expect(try await ids(a(status: .error)) == ["r3"])
        #expect(try await ids(a(metadata: [("n", "2")])) == ["r4", "r1"])
        #expect(try await ids(a(metadata: [("n", #""2""#)])) == ["r3", "r2"])
        #expect(try await ids(a(metadata: [("tag", #""x""#)])) == ["r3", "r1"])

        // Together.
        #expect(try await ids(a(metadata: [("n", "2"), ("tag", #""x""#)])) == ["r1"])
        #expect(try await ids(a(thread: "a1", assistant: "echo")) == ["r5", "r1"])
        #expect(try await ids(a(assistant: "echo", status: .pending)) == ["r6", "r5"])
        #expect(try await ids(a(thread: "a1", status: .pending, metadata: [("tag", #""y""#)])) == ["r5"])
        #expect(try await ids(a(thread: "a2", assistant: "helper", status: .pending, metadata: [("n", "2")])) == ["r4"])

        // Offset and limit come after the filters.
        #expect(try await ids(a(limit: 2)) == ["r6", "r5"])
        #expect(try await ids(a(limit: 2, offset: 2)) == ["r4", "r3"])
        #expect(try await ids(a(offset: 5)) == ["r1"])
        #expect(try await ids(a(offset: 6)).isEmpty)
        #expect(try await ids(a(assistant: "echo", limit: 1, offset: 1)) == ["r5"])

        // Nothing found.
        #expect(try await ids(a(thread: "nope")).isEmpty)
        #expect(try await ids(a(assistant: "nope")).isEmpty)
        #expect(try await ids(a(status: .interrupted)).isEmpty)
        #expect(try await ids(a(metadata: [("missing", "1")])).isEmpty)
        #expect(try await ids(a(thread: "a1", assistant: "helper", status: .success)).isEmpty)

        // Tenants: another tenant's thread, assistant or metadata never reaches in; a run without a thread has no tenant.
        #expect(try await ids(a(thread: "b1")).isEmpty)
        #expect(try await ids(RunQuery(tenant: "b")) == ["rb"])
        #expect(try await ids(RunQuery(tenant: "b", threadID: "b1", assistantID: "echo", status: .pending,
                                       metadata: [("n", "2")])) == ["rb"])
        #expect(try await ids(RunQuery(tenant: "b", threadID: "a1")).isEmpty)
        #expect(try await ids(RunQuery(tenant: "c")).isEmpty)
        #expect(try await ids(RunQuery(tenant: "")).isEmpty)
    }
}
