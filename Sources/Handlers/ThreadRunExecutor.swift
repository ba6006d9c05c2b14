import AgentRuntime
import Foundation
import Logging
import Store
import Synchronization

/// Runs one run of a thread in this process. Everything the run produces goes to the event log first
/// (numbered from 1); clients read it from there, live or later, through any worker.
struct ThreadRunExecutor: Sendable {
    let dependencies: Dependencies
    let supervisor: RunSupervisor
    var store: any AgentStore { supervisor.store }

    /// Starts the run in a task of its own, so that a client leaving does not stop it unless asked to.
    /// `claimed`: a background run already taken from the queue, so there is nothing to wait for.
    func start(_ run: RunRecord, plan: RunPlan, logger: Logger, claimed: Bool = false) -> LocalRun {
        let local = LocalRun(id: run.id, background: claimed)
        supervisor.register(local)
        _ = supervisor.acquireBell(run.id)
        let task = Task.detached { [self] in
            let outcome = await execute(run, plan: plan, local: local, logger: logger, claimed: claimed ? run : nil)
            supervisor.unregister(run.id)
            supervisor.ring(run.id)
            supervisor.releaseBell(run.id)
            local.finish(outcome)
            // Room for the next queued run now, not at the next tick.
            if claimed { supervisor.pokeBackground() }
        }
        local.start(task)
        return local
    }

    private func execute(_ run: RunRecord, plan: RunPlan, local: LocalRun, logger: Logger, claimed preclaimed: RunRecord?) async -> RunOutcome {
        let log = LoggedEvents(store: store, runID: run.id, supervisor: supervisor)
        if plan.afterSeconds > 0, preclaimed == nil {
            try? await Task.sleep(for: .milliseconds(Int64(plan.afterSeconds * 1000)))
        }
        // Wait for the thread: earlier runs go first.
        var claimed = preclaimed
        do {
            while claimed == nil {
                if Task.isCancelled {
                    let action = local.cancellation?.action ?? .interrupt
                    _ = try await Self.shielded { [store] in try await store.requestCancel(run.id, action: action) }
                }
                let (worker, lease) = (supervisor.workerID, supervisor.leaseDeadline)
                switch try await Self.shielded({ [store] in try await store.claimRun(run.id, worker: worker, leaseUntil: lease) }) {
                case .claimed(let record):
                    claimed = record
                case .waiting:
                    try? await Task.sleep(for: .milliseconds(50))
                case .cancelled:
                    logger.info("run.cancelled", metadata: ["reason": "before_start"])
                    await Self.uncancelled {
                        await log.close(error: RunStreamError(error: "run_interrupted", message: "The run was cancelled before it started."))
                    }
                    return RunOutcome(status: .interrupted, error: Self.interrupted)
                }
            }
        } catch {
            logger.error("run.store_failed", metadata: ["error": "\(error)"])
            await Self.uncancelled {
                await log.close(error: RunStreamError(error: "internal_error", message: "The run could not be started."))
            }
            return RunOutcome(status: .error, error: APIError(status: 500, code: "internal_error", detail: "The run could not be started."))
        }
        let attempt = claimed?.attempts ?? 1
        let threadID = run.threadID ?? ""
        let modes = Set(plan.streamModes)
        let collected = Collected()
        let started = ContinuousClock.now
        var history: [ChatMessage] = []
        var fit = ContextWindow.Fit(history: [], droppedMessages: 0)
        do {
            await log.resume(after: try await store.lastEventSeq(run: run.id))
            history = try await store.messages(thread: threadID, limit: nil).map { try StoredMessage.decode($0.body) }
            fit = ContextWindow.fit(history: history, input: plan.input, instructions: plan.agent.instructions,
                                    budget: plan.agent.limits.maxContextTokens)
            logger.info("run.started", metadata: ["attempt": "\(attempt)", "context.dropped_messages": "\(fit.droppedMessages)"])
            try await log.send("metadata", json: Metadata(run_id: run.id, thread_id: Tenancy.publicID(threadID), attempt: attempt,
                                                         context: fit.droppedMessages > 0 ? ContextNote(dropped_messages: fit.droppedMessages) : nil))
            if modes.contains(.values) {
                try await log.send("values", json: StateValues(history + plan.input))
            }
            let renderer = MessageStreamRenderer(events: log, modes: modes, runID: run.id, agentID: plan.agent.id)
            let runner = AgentRunner(clock: dependencies.clock, makeID: dependencies.makeID, httpClient: dependencies.httpClient,
                                     watchdog: dependencies.watchdog)
            let (store, worker) = (store, supervisor.workerID)
            let result = try await runner.run(agent: plan.agent, input: fit.history + plan.input) { event in
                collected.record(event)
                // Durable before the tool runs: a later attempt then knows not to repeat it.
                if case .toolStarted(let call) = event, plan.agent.tool(call.name)?.isIdempotent == false {
                    try await store.recordSideEffect(run: run.id, worker: worker,
                                                     call: String(decoding: encodeJSON(WireToolCall(call)), as: UTF8.self))
                }
                try await renderer.render(event)
            }
            let added = Array(result.messages.dropFirst(fit.history.count + plan.input.count))
            let messages = plan.input + added
            if modes.contains(.custom) {
                try await log.send("custom", json: CustomEvent(type: "run_completed", usage: result.usage, turn: result.turns))
            }
            if modes.contains(.values) {
                try await log.send("values", json: StateValues(history + messages, usage: result.usage))
            }
            try await finish(run, .success, messages: messages, result: RunResultNote(usage: result.usage, turns: result.turns, context: fit.note),
                             closing: log)
            logger.info("run.completed", metadata: [
                "turns": "\(result.turns)", "usage.input_tokens": "\(result.usage.inputTokens)",
                "usage.output_tokens": "\(result.usage.outputTokens)", "duration_ms": "\(milliseconds(since: started))",
            ])
            return RunOutcome(status: .success, error: nil)
        } catch let error where error is CancellationError || error is ClientDisconnected {
            let (action, reason) = local.cancellation ?? (.interrupt, "cancelled")
            logger.info("run.cancelled", metadata: ["reason": .string(reason), "action": .string(action.rawValue),
                                                    "duration_ms": "\(milliseconds(since: started))"])
            if reason == "gone" { return RunOutcome(status: .interrupted, error: Self.interrupted) }
            // The store refuses work from a cancelled task; closing the run must not be refused.
            return await Self.uncancelled { [self, fit] in
                // A background run is not the client's: at shutdown it goes back to the queue for another worker.
                if reason == "server_shutdown", local.background,
                   (try? await store.releaseRun(run.id, worker: supervisor.workerID)) == true {
                    logger.info("run.released", metadata: ["attempt": "\(attempt)"])
                    return RunOutcome(status: .pending, error: nil)
                }
                if action == .rollback {
                    try? await finish(run, .interrupted, messages: [],
                                      result: RunResultNote(usage: collected.usage, turns: nil, context: fit.note,
                                                            error: RunStreamError(error: "run_rolled_back", message: reason)),
                                      rollback: true)
                    return RunOutcome(status: .interrupted, error: Self.interrupted)
                }
                let shutdown = reason == "server_shutdown"
                let note = RunStreamError(error: shutdown ? "server_shutting_down" : "run_interrupted",
                                          message: shutdown ? "The server is restarting; the run stopped. Run it again."
                                              : "The run was interrupted (\(reason)); its partial output is kept on the thread.")
                try? await log.send("error", json: note)
                do {
                    try await finish(run, .interrupted, messages: plan.input + collected.messages,
                                     result: RunResultNote(usage: collected.usage, turns: nil, context: fit.note, error: note), closing: log)
                } catch {
                    logger.error("run.store_failed", metadata: ["error": "\(error)"])
                    await log.end()
                }
                return RunOutcome(status: .interrupted, error: Self.interrupted)
            }
        } catch {
            let problem = APIError.ofRun(error)
            let status: RunStatus = if case RunFailure.timedOut = error { .timeout } else { .error }
            if problem == nil { logger.error("run.failed", metadata: ["error": "\(String(reflecting: error))"]) }
            else { logger.warning("run.failed", metadata: ["error": "\(error)", "duration_ms": "\(milliseconds(since: started))"]) }
            let reported = problem ?? APIError(status: 500, code: "internal_error", detail: "The run failed; see the server log for run \(run.id).")
            let note = RunStreamError(error: reported.code, message: reported.detail)
            return await Self.uncancelled { [self, fit] in
                try? await log.send("error", json: note)
                do {
                    try await finish(run, status, messages: plan.input + collected.messages,
                                     result: RunResultNote(usage: collected.usage, turns: nil, context: fit.note, error: note), closing: log)
                } catch {
                    logger.error("run.store_failed", metadata: ["error": "\(error)"])
                    await log.end()
                }
                return RunOutcome(status: status, error: reported)
            }
        }
    }

    static func shielded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task { try await body() }.value
    }

    /// Runs `body` in a task of its own, which the current task's cancellation does not reach.
    static func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await Task { await body() }.value
    }

    /// Ends the run in one store transaction: status, messages, checkpoint, webhook deliveries, and (with `closing`)
    /// the log's `end`, so that no reader sees the run over before its `end` is there. If the run is no longer this
    /// worker's to finish, the `end` is appended on its own, as before; if the store fails, the caller decides.
    private func finish(_ run: RunRecord, _ status: RunStatus, messages: [ChatMessage], result: RunResultNote,
                        rollback: Bool = false, closing log: LoggedEvents? = nil) async throws {
        let settings = dependencies.catalog.webhooks
        // The stored record (attempts, attempt log) only for a webhook's payload: most runs have none.
        var ended = run.webhook != nil || !settings.endpoints.isEmpty ? ((try? await store.run(run.id)) ?? run) : run
        ended.status = status
        ended.result = String(decoding: encodeJSON(result), as: UTF8.self)
        ended.updatedAt = Date()
        ended.workerID = nil
        ended.leaseUntil = nil
        let deliveries = WebhookEvent.deliveries(for: ended, settings: settings, makeID: dependencies.makeID)
        let end = log?.closingEnd()
        let completion = RunCompletion(status: status, messages: messages.map { ($0.id, StoredMessage.encode($0)) },
                                       result: ended.result ?? "{}", rollback: rollback, deliveries: deliveries,
                                       closingEvents: end.map { [$0] } ?? [])
        let finished = try await store.finishRun(run.id, worker: supervisor.workerID, completion)
        if let log { if finished { log.closed() } else { await log.end() } }
        if let keyID = run.keyID, result.usage.totalTokens > 0 {
            try? await store.addUsage(key: keyID, day: Budget.today(), tokens: result.usage.totalTokens)
        }
    }

    static let interrupted = APIError(status: 409, code: "run_interrupted", detail: "The run was interrupted before it finished.")

    struct Metadata: Encodable {
        var run_id: String
        var thread_id: String
        var attempt: Int
        var context: ContextNote?
    }

    struct ContextNote: Encodable {
        var dropped_messages: Int
    }

    struct RunResultNote: Encodable {
        var usage: Usage
        var turns: Int?
        var context: ContextNote?
        var error: RunStreamError?
    }
}

extension ContextWindow.Fit {
    var note: ThreadRunExecutor.ContextNote? {
        droppedMessages > 0 ? ThreadRunExecutor.ContextNote(dropped_messages: droppedMessages) : nil
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

/// Appends a run's frames to its log in order, then wakes this process's readers of the run.
/// The run is the only writer, and its events are awaited one by one, so numbers commit in order.
final class LoggedEvents: EventSink {
    let store: any AgentStore
    let runID: String
    let supervisor: RunSupervisor
    private let next = Mutex(1)

    init(store: any AgentStore, runID: String, supervisor: RunSupervisor) {
        self.store = store
        self.runID = runID
        self.supervisor = supervisor
    }

    func resume(after seq: Int) async {
        next.withLock { $0 = seq + 1 }
    }

    func send(_ event: String, data: [UInt8]) async throws {
        let seq = next.withLock { next in
            defer { next += 1 }
            return next
        }
        try await store.appendEvent(run: runID, EventRecord(seq: seq, event: event, data: data))
        supervisor.ring(runID)
    }

    func end() async {
        try? await send("end", data: Array("null".utf8))
    }

    /// The `end` for the transaction that finishes the run; numbered, not yet counted.
    func closingEnd() -> EventRecord {
        EventRecord(seq: next.withLock { $0 }, event: "end", data: Array("null".utf8))
    }

    /// That transaction committed the `end`.
    func closed() {
        next.withLock { $0 += 1 }
        supervisor.ring(runID)
    }

    /// For a run that never started: readers still learn why and see the stream end.
    func close(error: RunStreamError) async {
        await resume(after: (try? await store.lastEventSeq(run: runID)) ?? 0)
        try? await send("error", json: error)
        await end()
    }
}
