import AgentRuntime
import Foundation
import Store

/// How a reader's pass over a run's log ended.
public enum FollowEnd: Sendable {
    /// The log's own end event was delivered.
    case logged
    /// The run is over but its log has no end (rolled back, deleted, or its events pruned).
    case missing
}

extension RunEngine {
    /// How often a waiter for a run's end looks at the store.
    static let endPoll: Duration = .milliseconds(50)

    /// Hands `deliver` the run's logged events after `after`, then the live tail, until its end. The log is the
    /// only source, so a reader here and the run on another worker see the same numbered events: no gap, no repeat.
    public func follow(_ runID: String, after: Int, _ deliver: (EventRecord) async throws -> Void) async throws -> FollowEnd {
        let bell = acquireBell(runID)
        defer { releaseBell(runID) }
        var last = after
        var idlePolls = 0
        while true {
            let generation = bell.generation
            let batch = try await store.events(run: runID, after: last, limit: 256)
            for event in batch {
                last = event.seq
                try await deliver(event)
                if RunLogEvent.isEnd(event) { return .logged }
            }
            if batch.count == 256 { continue }
            if batch.isEmpty {
                idlePolls += 1
                // Now and then, and before giving up: a run that ended without an end in its log would otherwise be
                // waited on for ever. Another worker's run is looked at on each empty look (a second apart when
                // the store sends notices): its ending without events (a cancelled pending run) is not announced.
                if idlePolls % (isLocal(runID) || notices == nil ? 20 : 1) == 0 {
                    let run = try await store.run(runID)
                    if run == nil || run?.status.isActive == false,
                       try await store.events(run: runID, after: last, limit: 1).isEmpty {
                        return .missing
                    }
                }
            } else {
                idlePolls = 0
            }
            await bell.wait(since: generation, timeout: isLocal(runID) ? .seconds(1) : remotePoll, watchdog: watchdog)
            try Task.checkCancellation()
        }
    }

    /// Waits until the run is no longer pending or running (on any worker); nil when it is gone.
    public func waitForEnd(_ run: RunRecord) async throws -> RunRecord? {
        var run = run
        let bell = acquireBell(run.id)
        defer { releaseBell(run.id) }
        while run.status.isActive {
            let generation = bell.generation
            guard let current = try await store.run(run.id) else { return nil }
            run = current
            if run.status.isActive {
                await bell.wait(since: generation, timeout: Self.endPoll, watchdog: watchdog)
                try Task.checkCancellation()
            }
        }
        return run
    }

    /// Asks a run to stop: at once when this process runs it, at its worker's next renewal otherwise.
    public func cancel(_ id: String, action: CancelAction) async throws -> RunRecord? {
        let updated = try await store.requestCancel(id, action: action)
        if updated != nil { cancelLocal(id, action: action) }
        return updated
    }

    // MARK: - Writes the HTTP layer asks for

    public func createThread(_ thread: NewThread, ifExists: IfExists) async throws -> ThreadRecord {
        try await store.createThread(thread, ifExists: ifExists)
    }

    public func updateThread(_ id: String, metadata: JSONText?, ttl: Duration?) async throws -> ThreadRecord {
        try await store.updateThread(id, metadata: metadata, ttl: ttl)
    }

    public func deleteThread(_ id: String) async throws -> Bool { try await store.deleteThread(id) }

    /// A state update outside any run (LangGraph's `update_state`), in one transaction; the new checkpoint's id.
    public func updateState(thread id: String, removing: [String], replacing: [(id: String, body: JSONText)],
                            adding: [(id: String, body: JSONText)], values: JSONText?) async throws -> String {
        try await store.updateState(thread: id, removing: removing, replacing: replacing, adding: adding, values: values)
    }

    /// Keeps only the thread's newest checkpoint (LangGraph's prune `keep_latest`).
    public func pruneHistory(thread id: String) async throws -> Bool { try await store.pruneHistory(thread: id) }

    public func deleteRun(_ id: String) async throws -> Bool { try await store.deleteRun(id) }

    /// Messages a client writes into a thread without running anything (conversation items).
    public func addMessages(thread id: String, _ messages: [ChatMessage]) async throws -> [MessageRecord] {
        try await store.addMessages(thread: id, messages.map { ($0.id, StoredMessage.encode($0)) })
    }

    public func removeMessage(thread id: String, messageID: String) async throws -> Bool {
        try await store.removeMessage(thread: id, messageID: messageID)
    }

    /// A new thread that starts as `source`'s first `count` messages (a conversation continued from an earlier point,
    /// leaving the original as it is).
    /// `values`: state keys beside the messages to give the new thread too (a copy's), in the same checkpoint.
    public func forkThread(from source: String, keeping count: Int, into thread: NewThread, values: JSONText = "{}") async throws -> ThreadRecord {
        let messages = try await store.messages(thread: source, limit: count)
        let created = try await store.createThread(thread, ifExists: .raise)
        let copies = try messages.map { record in (try JSONDecoder().decode(StoredMessage.self, from: Data(record.body.utf8)).id, record.body) }
        if values != "{}" {
            _ = try await store.updateState(thread: created.id, removing: [], replacing: [], adding: copies, values: values)
            return try await store.thread(created.id) ?? created
        }
        if !copies.isEmpty { _ = try await store.addMessages(thread: created.id, copies) }
        return created
    }



    /// `Idempotency-Key`: the first request with a key proceeds, a retry gets its stored answer back.
    public func claimIdempotency(scope: String, key: String, requestHash: String) async throws -> IdempotencyClaim {
        try await store.claimIdempotency(scope: scope, key: key, requestHash: requestHash, now: Date())
    }

    public func completeIdempotency(scope: String, key: String, _ response: IdempotentResponse) async throws {
        try await store.completeIdempotency(scope: scope, key: key, response)
    }

    public func releaseIdempotency(scope: String, key: String) async throws {
        try await store.releaseIdempotency(scope: scope, key: key)
    }
}

/// The reads the HTTP layer makes itself (state, history, listings, authentication); every write goes through the
/// engine.
public struct StoreReader: Sendable {
    let store: any AgentStore

    public func thread(_ id: String) async throws -> ThreadRecord? { try await store.thread(id) }
    public func searchThreads(_ query: ThreadQuery) async throws -> [ThreadRecord] { try await store.searchThreads(query) }
    public func countThreads(_ query: ThreadQuery) async throws -> Int { try await store.countThreads(query) }
    public func messages(thread id: String, limit: Int?) async throws -> [MessageRecord] { try await store.messages(thread: id, limit: limit) }
    public func threadWithMessages(_ id: String) async throws -> (thread: ThreadRecord?, messages: [MessageRecord]) {
        try await store.threadWithMessages(id)
    }
    public func checkpoints(thread id: String, limit: Int, before: String?) async throws -> [CheckpointRecord] {
        try await store.checkpoints(thread: id, limit: limit, before: before)
    }
    public func run(_ id: String) async throws -> RunRecord? { try await store.run(id) }
    public func runs(thread id: String, limit: Int, offset: Int, status: RunStatus?) async throws -> [RunRecord] {
        try await store.runs(thread: id, limit: limit, offset: offset, status: status)
    }
    public func runs(tenant: String, status: RunStatus, limit: Int) async throws -> [RunRecord] {
        try await store.runs(tenant: tenant, status: status, limit: limit)
    }
    public func searchRuns(_ query: RunQuery) async throws -> [RunRecord] { try await store.searchRuns(query) }
    public func deliveries(run id: String) async throws -> [DeliveryRecord] { try await store.deliveries(run: id) }
    public func key(hash: String) async throws -> APIKeyRecord? { try await store.key(hash: hash) }
}
