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
    /// The thread's messages and its state keys beside them, as one read saw them.
    func threadState() async throws -> ThreadState
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

/// What a run starts from on its thread.
struct ThreadState {
    var history: [ChatMessage] = []
    var values: [String: JSONValue] = [:]
}

// MARK: - Stored runs

/// A run's log, written in order and in batches (group commit): the first event of a quiet log goes to the store at
/// once, those the run makes while that write is under way go together in the next one, and what is left at the end
/// goes in the transaction that finishes the run. Readers are woken after each commit and read the store, so nothing is
/// sent before it is written; but a run does not wait for each of its events to be written (a dozen commits a run was
/// most of a stored run's cost). A failed write is thrown by the run's next append, once.
final class StoredLog: Sendable {
    let engine: RunEngine
    let runID: String
    private struct State {
        var next = 1
        var pending: [EventRecord] = []
        var writing = false
        /// The run's end takes what is pending for its own transaction: the writer stops after its current batch.
        var held = false
        var failure: (any Error)?
        var settled: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init(engine: RunEngine, runID: String) {
        self.engine = engine
        self.runID = runID
    }

    func resume(after seq: Int) {
        state.withLock { $0.next = seq + 1 }
    }

    func append(_ event: RunLogEvent) async throws {
        var record = event.record(seq: 0)
        let start = try state.withLock { state throws -> Bool in
            if let failure = state.failure {
                state.failure = nil
                throw failure
            }
            record.seq = state.next
            state.next += 1
            state.pending.append(record)
            return Self.starts(&state)
        }
        if start { Task { await self.write() } }
    }

    /// Whether the caller starts the writer: there is something to write and nobody writing or holding it.
    private static func starts(_ state: inout State) -> Bool {
        guard !state.writing, !state.held, !state.pending.isEmpty else { return false }
        state.writing = true
        return true
    }

    private func write() async {
        while true {
            let batch = state.withLock { state -> [EventRecord] in
                guard !state.held, state.failure == nil, !state.pending.isEmpty else { return [] }
                defer { state.pending.removeAll(keepingCapacity: true) }
                return state.pending
            }
            if batch.isEmpty { break }
            do {
                try await engine.store.appendEvents(run: runID, batch)
                engine.ring(runID)
            } catch {
                state.withLock { $0.failure = error }
            }
        }
        let waiting = state.withLock { state in
            state.writing = false
            defer { state.settled = [] }
            return state.settled
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Waits for the write under way, if any.
    func settle() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if !state.writing { return true }
                state.settled.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Every event appended so far is in the store (or the failure that kept one out is thrown).
    func flush() async throws {
        await settle()
        let (batch, failure) = state.withLock { state in
            defer { (state.pending, state.failure) = ([], nil) }
            return (state.pending, state.failure)
        }
        if let failure { throw failure }
        if batch.isEmpty { return }
        try await engine.store.appendEvents(run: runID, batch)
        engine.ring(runID)
    }

    func end() async {
        try? await append(.end)
        try? await flush()
    }

    /// What is not yet written and the `end` after it, for the transaction that finishes the run; numbered, not yet
    /// counted. Nothing more is written until `closed` or `reopen`.
    func closing() async throws -> [EventRecord] {
        state.withLock { $0.held = true }
        await settle()
        return try state.withLock { state in
            if let failure = state.failure {
                state.failure = nil
                state.held = false
                throw failure
            }
            return state.pending + [RunLogEvent.end.record(seq: state.next)]
        }
    }

    /// That transaction committed them.
    func closed() {
        state.withLock { state in
            state.pending = []
            state.next += 1
        }
        engine.ring(runID)
    }

    /// That transaction did not happen: what was pending is written as before.
    func reopen() {
        let start = state.withLock { state in
            state.held = false
            return Self.starts(&state)
        }
        if start { Task { await self.write() } }
    }

    /// A rolled-back run's events go with it.
    func discard() {
        state.withLock { $0.pending = [] }
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
        // Taken from the queue, or started by the transaction that made it: nothing to wait for.
        var attempt = claimed || (record.status == .running && record.workerID == engine.workerID) ? record.attempts : nil
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
        // A first attempt's log is empty (nothing writes to a run's log before it is claimed, except its end when it
        // never starts); a later one goes on after the earlier attempts' events. Shielded like the claim: a cancel
        // arriving now is handled once the run has started, by the one ending.
        if attempt! > 1 { log.resume(after: try await shielded { try await store.lastEventSeq(run: id) }) }
        if let keep = job.keepHistory, let threadID = record.threadID, attempt == 1 {
            _ = try await shielded { try await store.truncateMessages(thread: threadID, keeping: keep, by: id) }
        }
        return attempt
    }

    func threadState() async throws -> ThreadState {
        guard let threadID = record.threadID else { return ThreadState() }
        let (thread, messages) = try await store.threadWithMessages(threadID)
        var state = ThreadState(history: try messages.map { try StoredMessage.decode($0.body) })
        if let text = thread?.values, text != "{}" {
            state.values = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
        }
        return state
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
        try await log.flush()
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
        let closing = try await log.closing()
        let pending = record.threadID == nil ? nil : note.approval.map { PendingApproval(id: $0.id, body: $0.json) }
        // The key's usage goes in the same transaction (a key with a daily budget settles its reservation instead).
        let tokens = note.usage?.totalTokens ?? 0
        let usage = budget == nil && tokens > 0 ? record.keyID.map { (key: $0, day: Budget.today(), tokens: tokens) } : nil
        let completion = RunCompletion(status: status, messages: messages.map { ($0.id, StoredMessage.encode($0)) },
                                       result: ended.result ?? "{}", rollback: rollback, deliveries: deliveries,
                                       closingEvents: rollback ? [] : closing, pendingApproval: pending, usage: usage)
        let finished: Bool
        do {
            finished = try await store.finishRun(record.id, worker: engine.workerID, completion)
        } catch {
            log.reopen()
            throw error
        }
        if rollback {
            log.discard()
        } else if finished {
            log.closed()
        } else {
            log.reopen()
            await log.end()
        }
        if let budget {
            await budget.settle(used: tokens)
        } else if let usage, !finished {
            await engine.recordUsage(key: usage.key, tokens: usage.tokens, day: usage.day)
        }
    }

    func end() async { await log.end() }

    func release() async -> Bool {
        // Its events are written before another attempt may number its own after them.
        try? await log.flush()
        return (try? await store.releaseRun(record.id, worker: engine.workerID)) == true
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
    func threadState() async throws -> ThreadState { ThreadState() }
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
