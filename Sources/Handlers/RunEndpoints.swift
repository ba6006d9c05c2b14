import AgentRuntime
import Logging
import Synchronization

/// Stateless runs: `POST /runs/wait` answers with the final state, `POST /runs/stream` streams it as SSE.
struct RunEndpoints {
    let dependencies: Dependencies

    /// Without `stream_mode`, a stream carries tokens, tool and usage events and the final state: what a person
    /// with curl wants to see.
    static let defaultStreamModes: [StreamMode] = [.messagesTuple, .custom, .values]

    var runner: AgentRunner {
        AgentRunner(clock: dependencies.clock, makeID: dependencies.makeID, httpClient: dependencies.httpClient,
                    watchdog: dependencies.watchdog)
    }

    func register(in router: inout Router) {
        router.add(Route("POST", "/runs/wait", operationID: "run_wait", access: .scope("runs:write"),
                         summary: "Run an agent and answer with its final state", handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/runs/stream", operationID: "run_stream", access: .scope("runs:write"),
                         summary: "Run an agent and stream its events as Server-Sent Events", handler: .async { request, context in
            try await stream(request, context)
        }))
    }

    func plan(_ request: Request) throws -> RunPlan {
        let plan = try RunPlan(request, catalog: dependencies.catalog, defaultModes: Self.defaultStreamModes, makeID: dependencies.makeID)
        if plan.webhook != nil {
            // Nothing of a stateless run is kept, so there would be nothing to deliver from.
            throw APIError.invalid(field: "webhook", "is for stored runs: POST /runs or POST /threads/{thread_id}/runs")
        }
        return plan
    }

    /// Budget and concurrency of the caller's key, and the usage to count when the run ends.
    func admit(_ context: RequestContext) async throws -> Admission {
        guard let principal = context.principal, let supervisor = dependencies.supervisor else { return Admission() }
        try await Budget.check(principal, store: supervisor.store)
        let release = try supervisor.acquireStateless(principal)
        let store = supervisor.store
        return Admission(release: release) { usage in
            if usage.totalTokens > 0 { try? await store.addUsage(key: principal.keyID, day: Budget.today(), tokens: usage.totalTokens) }
        }
    }

    func wait(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try plan(request)
        let admission = try await admit(context)
        let runID = dependencies.makeID()
        let logger = runLogger(context, runID: runID, plan: plan)
        let started = ContinuousClock.now
        logger.info("run.started")
        let result: RunResult
        do {
            result = try await execute(plan) { _ in }
        } catch {
            await admission.end(Usage())
            logEnd(of: error, logger: logger, started: started)
            throw error
        }
        await admission.end(result.usage)
        logCompleted(result, logger: logger, started: started)
        var response = Response.json(encodeJSON(StateValues(result.messages, usage: result.usage)))
        response.headers.add("Content-Location", "/runs/\(runID)")
        return response
    }

    func stream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try plan(request)
        let admission = try await admit(context)
        let runID = dependencies.makeID()
        let logger = runLogger(context, runID: runID, plan: plan)
        let modes = Set(plan.streamModes)
        let lifecycle = dependencies.lifecycle
        return ServerSentEvents.response(
            heartbeat: dependencies.heartbeat, headers: HTTPHeaders([("Content-Location", "/runs/\(runID)")])
        ) { events in
            let started = ContinuousClock.now
            logger.info("run.started")
            try await events.send("metadata", json: RunMetadata(run_id: runID, attempt: 1))
            if modes.contains(.values) {
                try await events.send("values", json: StateValues(plan.input))
            }
            let renderer = MessageStreamRenderer(events: events, modes: modes, runID: runID, agentID: plan.agent.id)
            let result: RunResult
            do {
                result = try await execute(plan) { event in try await renderer.render(event) }
            } catch {
                await admission.end(Usage())
                logEnd(of: error, logger: logger, started: started)
                // A client that left hears nothing more; anyone still listening learns why the stream ends.
                let cancelled = error is CancellationError || error is ClientDisconnected
                if cancelled && lifecycle.isDraining {
                    try? await events.send("error", json: StreamError(error: "server_shutting_down",
                                                                      message: "The server is restarting; run the request again."))
                    try? await events.send("end", data: Array("null".utf8))
                } else if !cancelled {
                    // Reported in-band: the stream itself ends normally.
                    let problem = APIError.ofRun(error) ?? APIError.internalError(requestID: context.requestID)
                    try await events.send("error", json: StreamError(error: problem.code, message: problem.detail))
                    try await events.send("end", data: Array("null".utf8))
                    return
                }
                throw error
            }
            await admission.end(result.usage)
            logCompleted(result, logger: logger, started: started)
            if modes.contains(.custom) {
                try await events.send("custom", json: CustomEvent(type: "run_completed", usage: result.usage, turn: result.turns))
            }
            if modes.contains(.values) {
                try await events.send("values", json: StateValues(result.messages, usage: result.usage))
            }
            try await events.send("end", data: Array("null".utf8))
        }
    }

    /// Runs the plan. With `on_disconnect: continue` the run is detached from the request's task, so a client
    /// that leaves does not stop it; its events are then delivered only while someone listens.
    func execute(_ plan: RunPlan, emit: @escaping @Sendable (RunEvent) async throws -> Void) async throws -> RunResult {
        let runner = self.runner
        switch plan.onDisconnect ?? .cancel {
        case .cancel:
            return try await runner.run(agent: plan.agent, input: plan.input, emit: emit)
        case .continue:
            let task = Task {
                try await runner.run(agent: plan.agent, input: plan.input) { event in try? await emit(event) }
            }
            return try await task.value
        }
    }

    func runLogger(_ context: RequestContext, runID: String, plan: RunPlan) -> Logger {
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        logger[metadataKey: "agent.id"] = .string(plan.agent.id)
        return logger
    }

    func logCompleted(_ result: RunResult, logger: Logger, started: ContinuousClock.Instant) {
        logger.info("run.completed", metadata: [
            "turns": "\(result.turns)",
            "usage.input_tokens": "\(result.usage.inputTokens)",
            "usage.output_tokens": "\(result.usage.outputTokens)",
            "duration_ms": "\(milliseconds(since: started))",
        ])
    }

    func logEnd(of error: any Error, logger: Logger, started: ContinuousClock.Instant) {
        let duration: Logger.MetadataValue = "\(milliseconds(since: started))"
        switch error {
        case is CancellationError, is ClientDisconnected:
            let reason = dependencies.lifecycle.isDraining ? "server_shutdown" : "client_disconnected"
            logger.info("run.cancelled", metadata: ["reason": .string(reason), "duration_ms": duration])
        default:
            logger.warning("run.failed", metadata: ["error": "\(error)", "duration_ms": duration])
        }
    }

    struct RunMetadata: Encodable {
        var run_id: String
        var attempt: Int
    }

    struct StreamError: Encodable {
        var error: String
        var message: String
    }
}

func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
    (ContinuousClock.now - start).wholeMilliseconds
}

/// A stateless run's place under its key's `max_concurrent_runs`. Given back when the run ends, and also when it
/// never starts: a stream whose client left before the head went out is dropped by the transport without its body
/// ever running, and the place goes back as the body's closure (and this with it) is released.
final class Admission: Sendable {
    private let release: (@Sendable () -> Void)?
    private let settle: (@Sendable (Usage) async -> Void)?
    private let open = Atomic<Bool>(true)

    init(release: (@Sendable () -> Void)? = nil, settle: (@Sendable (Usage) async -> Void)? = nil) {
        self.release = release
        self.settle = settle
    }

    /// The run is over: the place goes back and its usage is counted. Once; later calls do nothing.
    func end(_ usage: Usage) async {
        guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
        release?()
        await settle?(usage)
    }

    deinit {
        if open.load(ordering: .acquiring) { release?() }
    }
}
