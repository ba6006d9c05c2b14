import AgentRuntime
import Logging

/// Stateless runs: `POST /runs/wait` answers with the final state, `POST /runs/stream` streams it as SSE.
struct RunEndpoints {
    let dependencies: Dependencies

    /// Without `stream_mode`, a stream carries tokens and the final state, which is what a person with curl wants.
    static let defaultStreamModes: [StreamMode] = [.messagesTuple, .values]

    var runner: AgentRunner { AgentRunner(clock: dependencies.clock, makeID: dependencies.makeID) }

    func register(in router: inout Router) {
        router.add(Route("POST", "/runs/wait", operationID: "run_wait",
                         summary: "Run an agent and answer with its final state", handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/runs/stream", operationID: "run_stream",
                         summary: "Run an agent and stream its events as Server-Sent Events", handler: .async { request, context in
            try stream(request, context)
        }))
    }

    func plan(_ request: Request) throws -> RunPlan {
        try RunPlan(request, catalog: dependencies.catalog, defaultModes: Self.defaultStreamModes, makeID: dependencies.makeID)
    }

    func wait(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try plan(request)
        let runID = dependencies.makeID()
        let logger = runLogger(context, runID: runID, plan: plan)
        let started = ContinuousClock.now
        logger.info("run.started")
        let result: RunResult
        do {
            result = try await execute(plan) { _ in }
        } catch {
            logEnd(of: error, logger: logger, started: started)
            throw error
        }
        logCompleted(result, logger: logger, started: started)
        var response = Response.json(encodeJSON(StateValues(result.messages)))
        response.headers.add("Content-Location", "/runs/\(runID)")
        return response
    }

    func stream(_ request: Request, _ context: RequestContext) throws -> Response {
        let plan = try plan(request)
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
                logEnd(of: error, logger: logger, started: started)
                // A client that left hears nothing more; anyone still listening learns why the stream ends.
                let cancelled = error is CancellationError || error is ClientDisconnected
                if cancelled && lifecycle.isDraining {
                    try? await events.send("error", json: StreamError(error: "server_shutting_down",
                                                                      message: "The server is restarting; run the request again."))
                    try? await events.send("end", data: Array("null".utf8))
                } else if !cancelled {
                    let problem = error as? APIError ?? APIError.internalError(requestID: context.requestID)
                    try? await events.send("error", json: StreamError(error: problem.code, message: problem.detail))
                    try? await events.send("end", data: Array("null".utf8))
                }
                throw error
            }
            logCompleted(result, logger: logger, started: started)
            if modes.contains(.updates), let reply = result.messages.last {
                try await events.send("updates", json: ["agent": StateValues([reply])])
            }
            if modes.contains(.values) {
                try await events.send("values", json: StateValues(result.messages))
            }
            try await events.send("end", data: Array("null".utf8))
        }
    }

    /// Runs the plan. With `on_disconnect: continue` the run is detached from the request's task, so a client
    /// that leaves does not stop it; its events are then delivered only while someone listens.
    func execute(_ plan: RunPlan, emit: @escaping @Sendable (RunEvent) async throws -> Void) async throws -> RunResult {
        let runner = self.runner
        switch plan.onDisconnect {
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
    let elapsed = ContinuousClock.now - start
    return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
}

/// Turns run events into the frames of the requested stream modes.
final class MessageStreamRenderer: Sendable {
    let events: EventStreamWriter
    let modes: Set<StreamMode>
    let metadata: [String: String]
    private let partial = MutexBox<[String: String]>([:])

    init(events: EventStreamWriter, modes: Set<StreamMode>, runID: String, agentID: String) {
        self.events = events
        self.modes = modes
        self.metadata = ["run_id": runID, "agent_id": agentID, "langgraph_node": "agent"]
    }

    func render(_ event: RunEvent) async throws {
        switch event {
        case .messageDelta(let messageID, let text):
            if modes.contains(.messagesTuple) {
                try await events.send("messages", json: TupleFrame(chunk: MessageChunk(content: text, id: messageID), metadata: metadata))
            }
            if modes.contains(.messages) {
                let (content, first) = partial.withLock { store in
                    let first = store[messageID] == nil
                    store[messageID, default: ""] += text
                    return (store[messageID]!, first)
                }
                if first {
                    try await events.send("messages/metadata", json: [messageID: ["metadata": metadata]])
                }
                try await events.send("messages/partial", json: [MessageChunk(type: "ai", content: content, id: messageID)])
            }
        case .messageCompleted(let message):
            if modes.contains(.messages) {
                try await events.send("messages/complete", json: [OutputMessage(message)])
            }
        }
    }

    /// `[chunk, metadata]`, as LangGraph's `messages-tuple` mode sends it.
    struct TupleFrame: Encodable {
        var chunk: MessageChunk
        var metadata: [String: String]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(chunk)
            try container.encode(metadata)
        }
    }
}
