import AgentRuntime
import Foundation
import Logging
import Store
import Synchronization
import Telemetry
import Tracing

/// One run, start to end, for every kind of run: claim, context window, the agent loop with its events logged as
/// typed events, side effects recorded, then exactly one ending (success, cancelled, failed) written once.
///
/// A class, and its stages separate functions that are not inlined: an open run's memory is mostly its task's async
/// frames, and a frame holds what its function keeps across every await. One `execute` with everything inline kept
/// about 6 KiB per run for the whole run (measured with heaptrack, bench/README.md); the stages' frames go when they
/// return, and what stays while the agent runs is small.
final class RunExecution: Sendable {
    let engine: RunEngine
    let runID: String
    let threadID: String?
    let agent: AgentDefinition
    let input: [ChatMessage]
    /// The input's state keys beside its messages.
    let values: [String: JSONValue]
    let clientTools: [ToolSpec]
    let local: LocalRun
    let logger: Logger
    let persistence: any RunPersistence
    /// The run's protocol and tenant, as metrics labels.
    let origin: String
    let tenant: String
    /// The trace the run continues: the request that made it, maybe on another worker.
    let traceParent: String?
    /// What the agent's memory tools work on in this run (set by `prepare`), when it has memory. Here rather than in
    /// `Prepared`, which `execute` keeps in its frame for the whole run.
    let memory = Mutex<(any MemoryBackend)?>(nil)
    /// A person's decisions about the paused turn this run resumes.
    let resume: ToolDecisions?
    let breakpoints: Breakpoints

    init(engine: RunEngine, runID: String, threadID: String?, agent: AgentDefinition, input: [ChatMessage], values: [String: JSONValue]? = nil,
         clientTools: [ToolSpec] = [], local: LocalRun, logger: Logger, persistence: any RunPersistence, origin: String? = nil,
         tenant: String? = nil, traceParent: String? = nil, resume: ToolDecisions? = nil, breakpoints: Breakpoints? = nil) {
        self.resume = resume
        self.breakpoints = breakpoints ?? Breakpoints()
        // From a stored job, which carries the request's; a run made in the request's task continues its span as the
        // current one (Traces.parent), without a round trip through the header's text.
        self.traceParent = traceParent
        self.origin = origin ?? "langgraph"
        self.tenant = tenant ?? ""
        self.values = values ?? [:]
        self.engine = engine
        self.runID = runID
        self.threadID = threadID
        self.agent = agent
        self.input = input
        self.clientTools = clientTools
        self.local = local
        self.logger = logger
        self.persistence = persistence
    }

    /// What the run works on once it has begun: the thread's kept history and the input as the agent sees it.
    struct Prepared: Sendable {
        var history: [ChatMessage] = []
        var input: [ChatMessage]
        var fit = ContextWindow.Fit(history: [], droppedMessages: 0)

        /// What the model sees. A stateless run has no history: its input as it is, not a copy of it.
        var context: [ChatMessage] { fit.history.isEmpty ? input : fit.history + input }
    }

    func execute() async -> RunOutcome {
        let attempt: Int
        switch await begin() {
        case .begun(let begun): attempt = begun
        case .ended(let outcome): return outcome
        }
        let collected = Collected(agentID: agent.id)
        let started = ContinuousClock.now
        Metrics.runStarted(agent: agent.id, protocol: origin)
        // The request's trace when it was sampled; a run no sampled request made (a cron's) is drawn on its own.
        let outcome = if let parent = Traces.parent(continuing: traceParent, root: true) {
            await traced(under: parent, attempt: attempt, collected: collected, started: started)
        } else {
            await run(attempt: attempt, collected: collected, started: started)
        }
        let usage = collected.usage
        Metrics.runFinished(agent: agent.id, protocol: origin, status: outcome.status.rawValue, duration: ContinuousClock.now - started)
        Metrics.tokens(agent: agent.id, tenant: tenant, input: usage.inputTokens, output: usage.outputTokens)
        return outcome
    }

    /// The run in its `invoke_agent` span: apart from `execute`, so that an untraced run's frames hold no span.
    @inline(never)
    func traced(under parent: ServiceContext, attempt: Int, collected: Collected, started: ContinuousClock.Instant) async -> RunOutcome {
        await Traces.span("invoke_agent \(agent.id)", under: parent) { span in
            // One update each side of the run: each attribute set alone takes the span's lock.
            span.updateAttributes { attributes in
                attributes["gen_ai.operation.name"] = "invoke_agent"
                attributes["gen_ai.agent.name"] = agent.id
                attributes["gen_ai.provider.name"] = agent.model.provider.semanticName
                attributes["gen_ai.request.model"] = agent.model.name
                attributes["agentfcgi.run.id"] = runID
                if let threadID { attributes["gen_ai.conversation.id"] = Tenancy.publicID(threadID) }
            }
            let outcome = await run(attempt: attempt, collected: collected, started: started)
            span.updateAttributes { attributes in
                attributes["gen_ai.usage.input_tokens"] = collected.usage.inputTokens
                attributes["gen_ai.usage.output_tokens"] = collected.usage.outputTokens
                attributes["agentfcgi.run.status"] = outcome.status.rawValue
            }
            if outcome.status == .error || outcome.status == .timeout {
                span.setStatus(SpanStatus(code: .error, message: outcome.error?.code))
            }
            return outcome
        }
    }

    @inline(never)
    func run(attempt: Int, collected: Collected, started: ContinuousClock.Instant) async -> RunOutcome {
        var prepared = Prepared(input: input)
        do {
            prepared = try await prepare(attempt: attempt)
            // Tools of the agent's sources (MCP servers), as they are now; one that cannot answer is left out.
            let agent = await self.agent.resolvingTools { [logger] source, error in
                logger.warning("tools.source_unavailable", metadata: ["tool_source": .string(source), "error": "\(error)"])
            }
            let result = try await engine.runner.run(agent: agent, input: prepared.context, clientTools: clientTools,
                                                     memory: memory.withLock { $0 }, resume: resume, breakpoints: breakpoints,
                                                     emit: observer(collected: collected, agent: agent, resuming: resumingTools(prepared)))
            return try await succeed(prepared, result, started: started)
        } catch {
            return await fail(error, prepared: prepared, collected: collected, started: started, attempt: attempt)
        }
    }

    enum Beginning { case begun(Int), ended(RunOutcome) }

    @inline(never)
    func begin() async -> Beginning {
        do {
            guard let begun = try await persistence.begin() else {
                logger.info("run.cancelled", metadata: ["reason": "before_start"])
                await uncancelled { [persistence] in
                    await persistence.close(RunProblem(status: 409, code: "run_interrupted", message: "The run was cancelled before it started."))
                }
                return .ended(RunOutcome(status: .interrupted, error: .interrupted))
            }
            return .begun(begun)
        } catch {
            logger.error("run.store_failed", metadata: ["error": "\(error)"])
            let problem = RunProblem(status: 500, code: "internal_error", message: "The run could not be started.")
            await uncancelled { [persistence] in await persistence.close(problem) }
            return .ended(RunOutcome(status: .error, error: problem))
        }
    }

    /// The thread's history fitted to the context budget, and the run's first events.
    @inline(never)
    func prepare(attempt: Int) async throws -> Prepared {
        var prepared = Prepared(input: input)
        let thread = try await persistence.threadState()
        prepared.history = thread.history
        prepared.input = Self.namingToolResults(input, after: prepared.history)
        prepared.fit = ContextWindow.fit(history: prepared.history, input: prepared.input, instructions: agent.instructions,
                                         budget: agent.limits.maxContextTokens)
        if let settings = agent.memory {
            let bound = StoreMemory.make(settings, caller: try await persistence.caller(), store: engine.store)
            memory.withLock { $0 = bound }
        }
        logger.info("run.started", metadata: ["attempt": "\(attempt)", "context.dropped_messages": "\(prepared.fit.droppedMessages)"])
        if persistence.observesEvents {
            let state = (prepared.history + prepared.input).map(StoredMessage.init)
            let values = thread.values.merging(values) { _, run in run }
            try await persistence.append(.started(RunStart(runID: runID, threadID: threadID.map(Tenancy.publicID), attempt: attempt,
                                                           droppedMessages: prepared.fit.droppedMessages, state: state,
                                                           values: values.isEmpty ? nil : values)))
            // A run that answers a paused turn starts with that turn's tools.
            try await persistence.append(.stepStarted(resumingTools(prepared) > 0 ? .tools : .agent, turn: 1))
        }
        return prepared
    }

    /// What the agent's events do: collected for the ending, side effects recorded, logged as typed events.
    /// `resuming`: the paused turn's calls this run carries out first (its first step is then `tools`).
    func observer(collected: Collected, agent: AgentDefinition, resuming: Int = 0) -> @Sendable (RunEvent) async throws -> Void {
        let steps = StepTracker(callerTools: Set(clientTools.map(\.name)), resumingTools: resuming)
        let (persistence, observed) = (self.persistence, persistence.observesEvents)
        let budget = persistence.budget
        let decided = Set(resume?.decisions.keys.map { $0 } ?? [])
        return { event in
            collected.record(event)
            // Past its reservation a run takes more of its key's budget; with none left it stops before its next step.
            if let budget {
                if case .usage = event { try await budget.charge(total: collected.usage.totalTokens) }
                if case .toolStarted = event { try await budget.check() }
            }
            // Durable before the tool runs: a later attempt then knows not to repeat it. A call a person approved runs
            // at most once, whatever the tool.
            if case .toolStarted(let call) = event, agent.tool(call.name)?.isIdempotent == false || decided.contains(call.id) {
                try await persistence.recordSideEffect(call)
            }
            if observed { for logged in steps.events(for: event) { try await persistence.append(logged) } }
        }
    }

    @inline(never)
    func succeed(_ prepared: Prepared, _ result: RunResult, started: ContinuousClock.Instant) async throws -> RunOutcome {
        let messages = prepared.input + Array(result.messages.dropFirst(prepared.fit.history.count + prepared.input.count))
        if !result.awaitingApproval.isEmpty || result.breakpoint != nil { return try await pause(prepared, messages, result, started: started) }
        if persistence.observesEvents {
            try await persistence.append(.checkpoint(state: (prepared.history + messages).map(StoredMessage.init), usage: result.usage,
                                                     turns: result.turns))
        }
        try await persistence.finish(.success, messages: messages,
                                     note: RunResultNote(usage: result.usage, turns: result.turns, context: prepared.fit.note),
                                     rollback: false, quietly: false)
        logger.info("run.completed", metadata: [
            "turns": "\(result.turns)", "usage.input_tokens": "\(result.usage.inputTokens)",
            "usage.output_tokens": "\(result.usage.outputTokens)", "duration_ms": "\(milliseconds(since: started))",
        ])
        return RunOutcome(status: .success, error: nil, result: RunResult(messages: prepared.history + messages, usage: result.usage,
                                                                          turns: result.turns, pendingToolCalls: result.pendingToolCalls))
    }

    /// How many calls of a paused turn this run carries out before it calls the model.
    func resumingTools(_ prepared: Prepared) -> Int {
        resume == nil ? 0 : AgentRunner.unanswered(prepared.context).count
    }

    /// The run stops before a turn whose calls wait for a person: the turn's request is kept on the thread, which
    /// waits (`interrupted`) until a run answers it. The run holds nothing meanwhile: it has ended.
    @inline(never)
    func pause(_ prepared: Prepared, _ messages: [ChatMessage], _ result: RunResult, started: ContinuousClock.Instant) async throws -> RunOutcome {
        let request = ApprovalRequest(runID: runID, agent: agent, calls: result.awaitingApproval, now: Date(), breakpoint: result.breakpoint)
        if persistence.observesEvents {
            // The interrupt first, then the state it leaves: a reader that ends at the checkpoint knows why.
            try await persistence.append(.interrupt(request.value))
            try await persistence.append(.checkpoint(state: (prepared.history + messages).map(StoredMessage.init), usage: result.usage,
                                                     turns: result.turns))
        }
        var note = RunResultNote(usage: result.usage, turns: result.turns, context: prepared.fit.note)
        note.approval = request
        try await persistence.finish(.interrupted, messages: messages, note: note, rollback: false, quietly: false)
        logger.info("run.paused", metadata: [
            "approval.calls": .string(request.reviewed.map { $0.name }.joined(separator: ",")), "turns": "\(result.turns)",
            "duration_ms": "\(milliseconds(since: started))",
        ])
        return RunOutcome(status: .interrupted, error: nil, result: RunResult(messages: prepared.history + messages, usage: result.usage,
                                                                              turns: result.turns, awaitingApproval: result.awaitingApproval))
    }

    /// Tool results a caller sent (OpenAI's `tool` messages and `function_call_output` items) name only the call they
    /// answer: they get the tool's name from that call, as the model and the thread's readers expect.
    static func namingToolResults(_ input: [ChatMessage], after history: [ChatMessage]) -> [ChatMessage] {
        guard input.contains(where: { $0.role == .tool && $0.name == nil }) else { return input }
        var names: [String: String] = [:]
        for message in history + input { for call in message.toolCalls { names[call.id] = call.name } }
        return input.map { message in
            guard message.role == .tool, message.name == nil, let id = message.toolCallID, let name = names[id] else { return message }
            var named = message
            named.name = name
            return named
        }
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
