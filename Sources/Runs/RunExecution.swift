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
}

/// One run, start to end, for every kind of run: claim, context window, the agent loop with its events logged as
/// typed events, side effects recorded, then exactly one ending (success, cancelled, failed) written once.
struct RunExecution: Sendable {
    let engine: RunEngine
    let runID: String
    let threadID: String?
    let agent: AgentDefinition
    let input: [ChatMessage]
    var clientTools: [ToolSpec] = []
    let local: LocalRun
    let logger: Logger
    let persistence: any RunPersistence

    func execute() async -> RunOutcome {
        let attempt: Int
        do {
            guard let begun = try await persistence.begin() else {
                logger.info("run.cancelled", metadata: ["reason": "before_start"])
                await uncancelled { [persistence] in
                    await persistence.close(RunProblem(status: 409, code: "run_interrupted", message: "The run was cancelled before it started."))
                }
                return RunOutcome(status: .interrupted, error: .interrupted)
            }
            attempt = begun
        } catch {
            logger.error("run.store_failed", metadata: ["error": "\(error)"])
            let problem = RunProblem(status: 500, code: "internal_error", message: "The run could not be started.")
            await uncancelled { [persistence] in await persistence.close(problem) }
            return RunOutcome(status: .error, error: problem)
        }
        let collected = Collected()
        let started = ContinuousClock.now
        var history: [ChatMessage] = []
        var fit = ContextWindow.Fit(history: [], droppedMessages: 0)
        var input = self.input
        do {
            history = try await persistence.history()
            input = Self.namingToolResults(input, after: history)
            fit = ContextWindow.fit(history: history, input: input, instructions: agent.instructions, budget: agent.limits.maxContextTokens)
            logger.info("run.started", metadata: ["attempt": "\(attempt)", "context.dropped_messages": "\(fit.droppedMessages)"])
            let observed = persistence.observesEvents
            if observed {
                try await persistence.append(.started(RunStart(runID: runID, threadID: threadID.map(Tenancy.publicID), attempt: attempt,
                                                               droppedMessages: fit.droppedMessages, state: (history + input).map(StoredMessage.init))))
                try await persistence.append(.stepStarted(.agent, turn: 1))
            }
            let steps = StepTracker(callerTools: Set(clientTools.map(\.name)))
            let (agent, persistence) = (self.agent, self.persistence)
            let result = try await engine.runner.run(agent: agent, input: fit.history + input, clientTools: clientTools) { event in
                collected.record(event)
                // Durable before the tool runs: a later attempt then knows not to repeat it.
                if case .toolStarted(let call) = event, agent.tool(call.name)?.isIdempotent == false {
                    try await persistence.recordSideEffect(call)
                }
                if observed { for logged in steps.events(for: event) { try await persistence.append(logged) } }
            }
            let messages = input + Array(result.messages.dropFirst(fit.history.count + input.count))
            if observed {
                try await persistence.append(.checkpoint(state: (history + messages).map(StoredMessage.init), usage: result.usage, turns: result.turns))
            }
            try await persistence.finish(.success, messages: messages,
                                         note: RunResultNote(usage: result.usage, turns: result.turns, context: fit.note), rollback: false, quietly: false)
            logger.info("run.completed", metadata: [
                "turns": "\(result.turns)", "usage.input_tokens": "\(result.usage.inputTokens)",
                "usage.output_tokens": "\(result.usage.outputTokens)", "duration_ms": "\(milliseconds(since: started))",
            ])
            return RunOutcome(status: .success, error: nil, result: RunResult(messages: history + messages, usage: result.usage, turns: result.turns,
                                                                              pendingToolCalls: result.pendingToolCalls))
        } catch {
            return await uncancelled { [self, fit, input] in
                await end(after: error, input: input, collected: collected, context: fit.note, started: started, attempt: attempt)
            }
        }
    }

    /// Tool results a caller sent (OpenAI's `tool` messages and `function_call_output` items) name only the call they
    /// answer: they get the tool's name from that call, as the model and the thread's readers expect.
    static func namingToolResults(_ input: [ChatMessage], after history: [ChatMessage]) -> [ChatMessage] {
        var names: [String: String] = [:]
        for message in history + input { for call in message.toolCalls { names[call.id] = call.name } }
        return input.map { message in
            guard message.role == .tool, message.name == nil, let id = message.toolCallID, let name = names[id] else { return message }
            var named = message
            named.name = name
            return named
        }
    }

    /// The one place a run that did not succeed ends. Runs uncancelled: the store refuses work from a cancelled
    /// task, and closing the run must not be refused.
    private func end(after error: any Error, input: [ChatMessage], collected: Collected, context: RunResultNote.Context?,
                     started: ContinuousClock.Instant, attempt: Int) async -> RunOutcome {
        let duration: Logger.MetadataValue = "\(milliseconds(since: started))"
        let status: RunStatus
        let problem: RunProblem
        var tell = true
        if error is CancellationError || error is ClientDisconnected {
            let (action, reason) = local.cancellation ?? (.interrupt, error is ClientDisconnected ? "client_disconnected" : "cancelled")
            logger.info("run.cancelled", metadata: ["reason": .string(reason), "action": .string(action.rawValue), "duration_ms": duration])
            // Another worker took the run over: nothing here is ours to write.
            if reason == "gone" { return RunOutcome(status: .interrupted, error: .interrupted) }
            // A background run is not the client's: at shutdown it goes back to the queue for another worker.
            if reason == "server_shutdown", local.background, await persistence.release() {
                logger.info("run.released", metadata: ["attempt": "\(attempt)"])
                return RunOutcome(status: .pending, error: nil)
            }
            if action == .rollback {
                let note = RunResultNote(usage: collected.usage, turns: nil, context: context,
                                         error: .init(error: "run_rolled_back", message: reason))
                try? await persistence.finish(.interrupted, messages: [], note: note, rollback: true, quietly: true)
                return RunOutcome(status: .interrupted, error: .interrupted)
            }
            status = .interrupted
            tell = persistence.reportsCancellation || reason == "server_shutdown"
            problem = reason == "server_shutdown"
                ? RunProblem(status: 503, code: "server_shutting_down", message: "The server is restarting; \(persistence.shutdownAdvice)")
                : RunProblem(status: 409, code: "run_interrupted",
                             message: "The run was interrupted (\(reason)); its partial output is kept on the thread.")
        } else {
            status = if case RunFailure.timedOut = error { .timeout } else { .error }
            if let known = RunProblem.ofRun(error) {
                logger.warning("run.failed", metadata: ["error": "\(error)", "duration_ms": duration])
                problem = known
            } else {
                logger.error("run.failed", metadata: ["error": "\(String(reflecting: error))"])
                problem = RunProblem(status: 500, code: "internal_error", message: "The run failed; see the server log for run \(runID).")
            }
        }
        if tell { try? await persistence.append(.error(code: problem.code, message: problem.message)) }
        do {
            try await persistence.finish(status, messages: input + collected.messages,
                                         note: RunResultNote(usage: collected.usage, turns: nil, context: context, error: .init(problem)),
                                         rollback: false, quietly: !tell)
        } catch {
            logger.error("run.store_failed", metadata: ["error": "\(error)"])
            await persistence.end()
        }
        return RunOutcome(status: status, error: status == .interrupted ? .interrupted : problem)
    }
}

/// Runs `body` in a task of its own, which the current task's cancellation does not reach.
func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await Task { await body() }.value
}

func shielded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await body() }.value
}

public func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
    (ContinuousClock.now - start).wholeMilliseconds
}

/// What a run ended with, kept as the run's `result`: usage, turns, dropped context, and the error when it failed.
public struct RunResultNote: Codable, Sendable {
    /// nil when the run's spending is unknown here (its worker was lost, it never started).
    public var usage: Usage?
    public var turns: Int?
    public var context: Context?
    public var error: Failure?

    public struct Context: Codable, Sendable {
        public var dropped_messages: Int

        public init(dropped_messages: Int) { self.dropped_messages = dropped_messages }
    }

    public struct Failure: Codable, Sendable {
        public var error: String
        public var message: String

        init(error: String, message: String) {
            self.error = error
            self.message = message
        }

        init(_ problem: RunProblem) {
            self.init(error: problem.code, message: problem.message)
        }
    }

    var json: JSONText { String(decoding: encodeJSON(self), as: UTF8.self) }

    /// The failure of a finished run, as its record keeps it.
    public static func failure(of run: RunRecord) -> Failure? {
        struct Note: Decodable { var error: Failure? }
        return run.result.flatMap { try? JSONDecoder().decode(Note.self, from: Data($0.utf8)) }?.error
    }
}

extension ContextWindow.Fit {
    var note: RunResultNote.Context? {
        droppedMessages > 0 ? RunResultNote.Context(dropped_messages: droppedMessages) : nil
    }
}

/// The messages a run finished and the usage it spent so far: what an interrupted run leaves on its thread.
final class Collected: Sendable {
    private let state = Mutex<(messages: [ChatMessage], usage: Usage)>(([], Usage()))

    func record(_ event: RunEvent) {
        switch event {
        case .messageCompleted(let message): state.withLock { $0.messages.append(message) }
        case .usage(let usage, _): state.withLock { $0.usage = $0.usage + usage }
        default: break
        }
    }

    var messages: [ChatMessage] { state.withLock { $0.messages } }
    var usage: Usage { state.withLock { $0.usage } }
}

/// Turns the runtime's events into the log's: the same events, plus where messages start and where each step
/// (the model's turn, then its tools) starts and finishes.
final class StepTracker: Sendable {
    /// Tools the caller runs: the run ends at a call of one, so the server's tools step counts only its own calls.
    let callerTools: Set<String>

    init(callerTools: Set<String> = []) { self.callerTools = callerTools }

    private struct State {
        var turn = 1
        var started: Set<String> = []
        var pendingTools = 0
    }
    private let state = Mutex(State())

    func events(for event: RunEvent) -> [RunLogEvent] {
        state.withLock { state in
            switch event {
            case .messageDelta(let id, let text):
                return state.started.insert(id).inserted ? [.messageStarted(id: id), .messageDelta(id: id, text: text)]
                    : [.messageDelta(id: id, text: text)]
            case .messageCompleted(let message) where message.role == .assistant:
                var events: [RunLogEvent] = state.started.insert(message.id).inserted ? [.messageStarted(id: message.id)] : []
                events += [.messageCompleted(StoredMessage(message)), .stepFinished(.agent, turn: state.turn)]
                let own = message.toolCalls.filter { !callerTools.contains($0.name) }
                if !own.isEmpty {
                    state.pendingTools = own.count
                    events.append(.stepStarted(.tools, turn: state.turn))
                }
                return events
            case .messageCompleted(let message):
                var events: [RunLogEvent] = [.messageCompleted(StoredMessage(message))]
                state.pendingTools -= 1
                if state.pendingTools == 0 {
                    events.append(.stepFinished(.tools, turn: state.turn))
                    state.turn += 1
                    events.append(.stepStarted(.agent, turn: state.turn))
                }
                return events
            case .usage(let usage, let turn): return [.usage(usage, turn: turn)]
            case .toolStarted(let call): return [.toolStarted(StoredToolCall(call))]
            case .toolFinished(let call, let result): return [.toolFinished(StoredToolCall(call), result: result)]
            case .toolFailed(let call, let error): return [.toolFailed(StoredToolCall(call), error: error)]
            }
        }
    }
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

    init(engine: RunEngine, record: RunRecord, job: RunJob, claimed: Bool, local: LocalRun) {
        self.engine = engine
        self.record = record
        self.job = job
        self.claimed = claimed
        self.local = local
        self.log = StoredLog(engine: engine, runID: record.id)
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

    func append(_ event: RunLogEvent) async throws { try await log.append(event) }

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
        let completion = RunCompletion(status: status, messages: messages.map { ($0.id, StoredMessage.encode($0)) },
                                       result: ended.result ?? "{}", rollback: rollback, deliveries: deliveries,
                                       closingEvents: end.map { [$0] } ?? [])
        let finished = try await store.finishRun(record.id, worker: engine.workerID, completion)
        if !rollback { if finished { log.closed() } else { await log.end() } }
        if let keyID = record.keyID, let usage = note.usage, usage.totalTokens > 0 {
            try? await store.addUsage(key: keyID, day: Budget.today(), tokens: usage.totalTokens)
        }
    }

    func end() async { await log.end() }

    func release() async -> Bool {
        (try? await store.releaseRun(record.id, worker: engine.workerID)) == true
    }

    func close(_ problem: RunProblem) async { await log.close(problem) }
}

// MARK: - Stateless runs

/// A run that is not stored: its events go straight to the caller (the client's stream), its usage to the key.
struct StatelessRun: RunPersistence {
    let admission: Admission
    let emit: @Sendable (RunLogEvent) async throws -> Void
    let observesEvents: Bool
    /// The client may have left (`on_disconnect: continue`): what it would have been sent is dropped.
    let tolerant: Bool

    func begin() async throws -> Int? { 1 }
    func history() async throws -> [ChatMessage] { [] }

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
