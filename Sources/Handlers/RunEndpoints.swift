import Foundation
import HTTPTypes
import AgentRuntime
import Logging
import Runs

/// Stateless runs: `POST /runs/wait` answers with the final state, `POST /runs/stream` streams it as SSE. The
/// engine runs them through the same pipeline as stored runs; only their events are not logged.
struct RunEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine

    /// Without `stream_mode`, a stream carries tokens, tool and usage events and the final state: what a person
    /// with curl wants to see.
    static let defaultStreamModes: [StreamMode] = [.messagesTuple, .custom, .values]

    func register(in router: inout Router) {
        router.add(Route("POST", "/runs/wait", operationID: "run_wait", access: .scope("runs:write"),
                         summary: "Run an agent and answer with its final state", doc: .runWait, handler: .async { request, context in
            try await wait(request, context)
        }))
        router.add(Route("POST", "/runs/stream", operationID: "run_stream", access: .scope("runs:write"),
                         summary: "Run an agent and stream its events as Server-Sent Events", doc: .runStream, handler: .async { request, context in
            try await stream(request, context)
        }))
    }

    func plan(_ request: Request, _ context: RequestContext) async throws -> RunPlan {
        let plan = try await RunPlan(request, resolver: AgentResolver(catalog: dependencies.catalog, reader: engine.reader), tenant: context.tenant,
                                     defaultModes: Self.defaultStreamModes, makeID: dependencies.makeID)
        if plan.webhook != nil {
            // Nothing of a stateless run is kept, so there would be nothing to deliver from.
            throw APIError.invalid(field: "webhook", "is for stored runs: POST /runs or POST /threads/{thread_id}/runs")
        }
        if plan.checkpointID != nil { throw ThreadRunEndpoints.checkpointWithoutThread }
        if plan.resume != nil { throw ThreadRunEndpoints.resumeWithoutThread }
        return plan
    }

    func runLogger(_ context: RequestContext, runID: String, plan: RunPlan) -> Logger {
        var logger = context.logger
        logger[metadataKey: "run.id"] = .string(runID)
        logger[metadataKey: "agent.id"] = .string(plan.agent.id)
        return logger
    }

    func wait(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try await plan(request, context)
        let job = plan.job(defaultDisconnect: .cancel)
        let admission = try await engine.admitStateless(context.principal?.quota, for: job)
        let runID = dependencies.makeID()
        let outcome = try await engine.runStateless(job, runID: runID, admission: admission,
                                                    logger: runLogger(context, runID: runID, plan: plan), emit: nil)
        guard let result = outcome.result else {
            if outcome.status == .interrupted { throw CancellationError() }
            guard let problem = outcome.error, problem.code != "internal_error" else {
                throw APIError.internalError(requestID: context.requestID)
            }
            throw APIError(problem)
        }
        var extra = plan.values
        if !result.awaitingApproval.isEmpty {
            // Shown as LangGraph shows it; without a thread there is nothing to resume.
            let request = ApprovalRequest(runID: runID, agent: plan.agent, calls: result.awaitingApproval, now: Date())
            extra["__interrupt__"] = .array([LangGraphInterrupts.interrupt(request)])
        }
        var response = Response.json(encodeJSON(StateValues(result.messages, usage: result.usage, extra: extra)))
        response.headers.append(HTTPField(name: .contentLocation, value: "/runs/\(runID)"))
        return response
    }

    func stream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let plan = try await plan(request, context)
        let job = plan.job(defaultDisconnect: .cancel)
        let admission = try await engine.admitStateless(context.principal?.quota, for: job)
        let runID = dependencies.makeID()
        let logger = runLogger(context, runID: runID, plan: plan)
        let (engine, requestID) = (self.engine, context.requestID)
        // Not stored, so never re-read: the request's time stands for the run's creation.
        let renderer = LangGraphRenderer(modes: Set(plan.streamModes), runID: runID, agentID: plan.agent.id,
                                         createdAt: .now, inputCount: job.input.count)
        return ServerSentEvents.response(
            heartbeat: dependencies.heartbeat, headers: [.contentLocation: "/runs/\(runID)"]
        ) { events in
            try await streamStateless(engine, job, runID: runID, admission: admission, logger: logger) { event in
                var frames = renderer.frames(event)
                // An unexpected failure names the request, as the log does, and no more.
                if case .error(let code, _) = event, code == "internal_error" {
                    frames = [("error", encodeJSON(LangGraphRenderer.StreamError(
                        error: code, message: APIError.internalError(requestID: requestID).detail)))]
                }
                try await events.send(frames)
            }
        }
    }
}

/// Runs a stateless job for a streaming response: `write` sends each event's frames. The transport learns that the
/// stream did not finish (the body throws) when its client left or its request was cancelled.
func streamStateless(_ engine: RunEngine, _ job: RunJob, runID: String, admission: Admission, logger: Logger,
                     write: @escaping @Sendable (RunLogEvent) async throws -> Void) async throws {
    let left = MutexBox(false)
    let outcome = try await engine.runStateless(job, runID: runID, admission: admission, logger: logger) { event in
        do {
            try await write(event)
        } catch {
            left.withLock { $0 = true }
            throw error
        }
    }
    if left.withLock({ $0 }) { throw ClientDisconnected() }
    // A run paused for approval ended as it should: its events said so.
    if outcome.status == .interrupted, outcome.result == nil { throw CancellationError() }
}
