import AgentRuntime
import Foundation
import Logging
import Store
import Synchronization

/// What differs between a stored run and a stateless one: where events go, where the thread's history comes from,
/// and how the run ends. Everything else (the claim of the thread aside) is `RunExecution`, the one pipeline.
protocol RunPersistence: Sendable {
    /// Waits for the thread (earlier runs go first); the attempt, or nil when the run was cancelled before it started.
    func begin() async throws -> Int?
    func history() async throws -> [ChatMessage]
    /// The thread's state keys beside its messages.
    func threadValues() async throws -> [String: JSONValue]
    func append(_ event: RunLogEvent) async throws
    /// Notes, durably and before the call, that a non-idempotent tool is about to run.
    func recordSideEffect(_ call: ToolCall) async throws
    /// Whether a run stopped by its client still reports why and ends its events (a stored run's log does; a
    /// stateless run's client is the one that left).
    var reportsCancellation: Bool { get }
    /// What a run stopped by the server's shutdown tells its readers to do.
    var shutdownAdvice: String { get }
    /// False when nobody reads the run's events (a stateless run answered once it ends): they are not even made.
    var observesEvents: Bool { get }
    /// Ends the run: its status, the messages the thread gains, the result note, usage; and the log's `end`
    /// (`quietly`: no `end` where nobody listens).
    func finish(_ status: RunStatus, messages: [ChatMessage], note: RunResultNote, rollback: Bool, quietly: Bool) async throws
    /// Writes `end` alone, when finishing failed.
    func end() async
    /// Hands the run back to the queue (shutdown); false when it cannot go back.
    func release() async -> Bool
    /// For a run that never started: readers learn why and see the stream end.
    func close(_ problem: RunProblem) async
    /// The run's hold on its key's daily token budget, when the key has one.
    var budget: BudgetMeter? { get }
    /// Who the run works for: what its agent's memory is keyed by.
    func caller() async throws -> RunCaller
}

// MARK: - Stored runs

/// Appends a run's events to its log in order, then wakes this process's readers of the run.
/// The run is the only writer, and its events are awaited one by one, so numbers commit in order.
final class StoredLog: Sendable {
    let engine: RunEngine
    let runID: String
    private let next = Mutex(1)

    init(engine: RunEngine, runID: String) {
        self.engine = engine
        self.runID = runID
    }

    func resume(after seq: Int) {
        next.withLock { $0 = seq + 1 }
    }

    func append(_ event: RunLogEvent) async throws {
        let seq = next.withLock { next in
            defer { next += 1 }
            return next
        }
        try await engine.store.appendEvent(run: runID, event.record(seq: seq))
        engine.ring(runID)
    }

    func end() async {
        try? await append(.end)
    }

    /// The `end` for the transaction that finishes the run; numbered, not yet counted.
    func closingEnd() -> EventRecord {
        RunLogEvent.end.record(seq: next.withLock { $0 })
    }

    /// That transaction committed the `end`.
    func closed() {
        next.withLock { $0 += 1 }
        engine.ring(runID)
    }

    func close(_ problem: RunProblem) async {
        resume(after: (try? await engine.store.lastEventSeq(run: runID)) ?? 0)
        try? await append(.error(code: problem.code, message: problem.message))
        await end()
    }
}

struct StoredRun: RunPersistence {
    let engine: RunEngine
    let record: RunRecord
    let job: RunJob
    /// Taken from the queue already: nothing to wait for.
    let claimed: Bool
    let local: LocalRun
    let log: StoredLog
    let budget: BudgetMeter?

    init(engine: RunEngine, record: RunRecord, job: RunJob, claimed: Bool, local: LocalRun) {
        self.engine = engine
        self.record = record
        self.job = job
        self.claimed = claimed
        self.local = local
        self.log = StoredLog(engine: engine, runID: record.id)
        self.budget = job.reservation.map { BudgetMeter($0, engine: engine) }
    }

    var store: any AgentStore { engine.store }

    func begin() async throws -> Int? {
        var attempt = claimed ? record.attempts : nil
        if job.afterSeconds > 0, !claimed {
            try? await Task.sleep(for: .milliseconds(Int64(job.afterSeconds * 1000)))
        }
        let (store, id, local) = (self.store, record.id, self.local)
        while attempt == nil {
            if Task.isCancelled {
                let action = local.cancellation?.action ?? .interrupt
                _ = try await shielded { try await store.requestCancel(id, action: action) }
            }
            let (worker, lease) = (engine.workerID, engine.leaseDeadline)
            switch try await shielded({ try await store.claimRun(id, worker: worker, leaseUntil: lease) }) {
            case .claimed(let claimed): attempt = claimed.attempts
            case .waiting: try? await Task.sleep(for: .milliseconds(50))
            case .cancelled: return nil
            }
        }
        // Shielded like the claim: a cancel arriving now is handled once the run has started, by the one ending.
        log.resume(after: try await shielded { try await store.lastEventSeq(run: id) })
        if let keep = job.keepHistory, let threadID = record.threadID, attempt == 1 {
            _ = try await shielded { try await store.truncateMessages(thread: threadID, keeping: keep, by: id) }
        }
        return attempt
    }

    func history() async throws -> [ChatMessage] {
        try await store.messages(thread: record.threadID ?? "", limit: nil).map { try StoredMessage.decode($0.body) }
    }

    func threadValues() async throws -> [String: JSONValue] {
        guard let threadID = record.threadID, let text = try await store.thread(threadID)?.values, text != "{}" else { return [:] }
        return (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
    }

    func append(_ event: RunLogEvent) async throws { try await log.append(event) }

    /// The thread's tenant and metadata (as they are now: a client may change `user_id` between runs) and the run's key.
    func caller() async throws -> RunCaller {
        var thread: ThreadRecord?
        if let id = record.threadID { thread = try await store.thread(id) }
        let metadata = thread.flatMap { try? JSONDecoder().decode([String: JSONValue].self, from: Data($0.metadata.utf8)) } ?? [:]
        return RunCaller(tenant: thread?.tenant ?? "", keyID: record.keyID, threadMetadata: metadata)
    }

    func recordSideEffect(_ call: ToolCall) async throws {
        try await store.recordSideEffect(run: record.id, worker: engine.workerID,
                                         call: String(decoding: encodeJSON(StoredToolCall(call)), as: UTF8.self))
    }

    /// Ends the run in one store transaction: status, messages, checkpoint, webhook deliveries, and the log's `end`
    /// (not for a rollback, whose events go with it), so that no reader sees the run over before its `end` is there.
    /// If the run is no longer this worker's to finish, the `end` is appended on its own; if the store fails, the
    /// caller decides.
    var reportsCancellation: Bool { true }
    var shutdownAdvice: String { "the run stopped. Run it again." }
    var observesEvents: Bool { true }

    func finish(_ status: RunStatus, messages: [ChatMessage], note: RunResultNote, rollback: Bool, quietly: Bool) async throws {
        let settings = engine.catalog.webhooks
        // The stored record (attempts, attempt log) only for a webhook's payload: most runs have none.
        var ended = record.webhook != nil || !settings.endpoints.isEmpty ? ((try? await store.run(record.id)) ?? record) : record
        ended.status = status
        ended.result = note.json
        ended.updatedAt = Date()
        ended.workerID = nil
        ended.leaseUntil = nil
        let deliveries = WebhookEvent.deliveries(for: ended, settings: settings, formats: engine.formats, makeID: engine.makeID)
        let end = rollback ? nil : log.closingEnd()
        let pending = record.threadID == nil ? nil : note.approval.map { PendingApproval(id: $0.id, body: $0.json) }
        let completion = RunCompletion(status: status, messages: messages.map { ($0.id, StoredMessage.encode($0)) },
                                       result: ended.result ?? "{}", rollback: rollback, deliveries: deliveries,
                                       closingEvents: end.map { [$0] } ?? [], pendingApproval: pending)
        let finished = try await store.finishRun(record.id, worker: engine.workerID, completion)
        if !rollback { if finished { log.closed() } else { await log.end() } }
        if let budget {
            await budget.settle(used: note.usage?.totalTokens ?? 0)
        } else if let keyID = record.keyID, let usage = note.usage, usage.totalTokens > 0 {
            await engine.recordUsage(key: keyID, tokens: usage.totalTokens)
        }
    }

    func end() async { await log.end() }

    func release() async -> Bool {
        (try? await store.releaseRun(record.id, worker: engine.workerID)) == true
    }

    func close(_ problem: RunProblem) async {
        await budget?.settle(used: 0)
        await log.close(problem)
    }
}

// MARK: - Stateless runs

/// A run that is not stored: its events go straight to the caller (the client's stream), its usage to the key.
struct StatelessRun: RunPersistence {
    let admission: Admission
    let emit: @Sendable (RunLogEvent) async throws -> Void
    let observesEvents: Bool
    /// The client may have left (`on_disconnect: continue`): what it would have been sent is dropped.
    let tolerant: Bool

    var budget: BudgetMeter? { admission.budget }

    func begin() async throws -> Int? { 1 }
    func history() async throws -> [ChatMessage] { [] }
    func threadValues() async throws -> [String: JSONValue] { [:] }
    func caller() async throws -> RunCaller { admission.caller }

    func append(_ event: RunLogEvent) async throws {
        if tolerant { try? await emit(event) } else { try await emit(event) }
    }

    func recordSideEffect(_ call: ToolCall) async throws {}

    var reportsCancellation: Bool { false }
    var shutdownAdvice: String { "run the request again." }

    func finish(_ status: RunStatus, messages: [ChatMessage], note: RunResultNote, rollback: Bool, quietly: Bool) async throws {
        await admission.end(note.usage ?? Usage())
        if quietly { return }
        if status == .success { try await append(.end) } else { try? await emit(.end) }
    }

    func end() async { try? await emit(.end) }
    func release() async -> Bool { false }

    func close(_ problem: RunProblem) async {
        await admission.end(Usage())
        try? await emit(.error(code: problem.code, message: problem.message))
        try? await emit(.end)
    }
}
