import AgentRuntime
import Foundation
import Runs
import Store

/// `POST /threads/{thread_id}/commands`: `{"id", "method", "params"}` in, the protocol's envelope out. A refused
/// command is answered 200 with `{"type":"error", "id", "error", "message"}` (langgraph-sdk raises its own error
/// for any 4xx before reading the body); only a body that is no command at all is a 400.
extension ThreadStreamEndpoints {
    struct Command: Decodable {
        var id: Int
        var method: String
        var params: [String: JSONValue]?
    }

    struct Success<Result: Encodable>: Encodable {
        var type = "success"
        var id: Int
        var result: Result
        var meta: Meta

        struct Meta: Encodable { var applied_through_seq: Int64 }
    }

    struct Failure: Encodable {
        var type = "error"
        /// null when the body named none: langgraph-sdk wants the key in every answer.
        var id: Int?
        var error: String
        var message: String

        enum CodingKeys: String, CodingKey { case type, id, error, message }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            if let id { try container.encode(id, forKey: .id) } else { try container.encodeNil(forKey: .id) }
            try container.encode(error, forKey: .error)
            try container.encode(message, forKey: .message)
        }
    }

    struct RunStarted: Encodable { var run_id: String }

    func command(_ request: Request, _ context: RequestContext) async throws -> Response {
        let command: Command
        do {
            command = try request.decodeJSON(Command.self)
        } catch let error as APIError {
            let message = error.field.map { "\($0): \(error.detail)" } ?? error.detail
            return .json(encodeJSON(Failure(id: nil, error: "invalid_argument", message: message)), status: 400)
        }
        func refuse(_ code: String, _ message: String) -> Response {
            .json(encodeJSON(Failure(id: command.id, error: code, message: message)))
        }
        switch command.method {
        case "run.start", "input.respond":
            do {
                let params = command.params ?? [:]
                let run = command.method == "run.start" ? try await startRun(params, request, context)
                    : try await respond(params, request, context)
                // The client's cursor: everything of this run comes after it.
                return .json(encodeJSON(Success(id: command.id, result: RunStarted(run_id: run.id),
                                                meta: .init(applied_through_seq: Self.seq(run, 0)))))
            } catch {
                guard let problem = APIError.of(error) else { throw error }
                let message = problem.field.map { "\($0): \(problem.detail)" } ?? problem.detail
                return refuse(problem.status == 400 || problem.status == 422 || problem.status == 404 ? "invalid_argument" : problem.code, message)
            }
        case "agent.getTree", "subscription.subscribe", "subscription.unsubscribe", "subscription.reconnect":
            return refuse("not_supported", "\(command.method) is a WebSocket command; this server streams threads over Server-Sent Events.")
        default:
            return refuse("unknown_command", "Unknown method '\(command.method.prefix(60))'; expected run.start or input.respond.")
        }
    }

    /// `input.respond`: `{interrupt_id, namespace, response}`, the response as a resume (`{"decisions": [...]}`): a
    /// background run that answers the thread's approval, for the paused run's assistant; `thread.run.respond` in
    /// langgraph-sdk.
    func respond(_ params: [String: JSONValue], _ request: Request, _ context: RequestContext) async throws -> RunRecord {
        let threadID = try ThreadEndpoints.threadID(context)
        for key in params.keys where !["interrupt_id", "namespace", "response"].contains(key) {
            throw APIError.invalid(field: "params.\(key.prefix(60))", "is not an input.respond parameter")
        }
        guard case .string(let interruptID)? = params["interrupt_id"] else { throw APIError.invalid(field: "params.interrupt_id", "is required") }
        guard let response = params["response"] else { throw APIError.invalid(field: "params.response", "is required: {\"decisions\": [...]}") }
        guard let thread = try await engine.reader.thread(threadID) else { throw APIError.threadNotFound(threadID) }
        guard let pending = thread.pendingApproval, pending.id == interruptID,
              let paused = try await engine.reader.run(pending.id) else {
            throw APIError(status: 409, code: "nothing_to_resume",
                           detail: "Thread '\(Tenancy.publicID(threadID).prefix(100))' waits for no decision '\(interruptID.prefix(100))'.",
                           field: "params.interrupt_id")
        }
        let body: JSONValue = .object(["assistant_id": .string(paused.assistantID),
                                       "command": .object(["resume": .object([interruptID: response])])])
        var runRequest = request
        runRequest.body = encodeJSON(body)
        let plan = try await RunPlan(runRequest, resolver: AgentResolver(catalog: dependencies.catalog, reader: engine.reader), tenant: context.tenant,
                                     defaultModes: RunEndpoints.defaultStreamModes, makeID: dependencies.makeID)
        let runs = ThreadRunEndpoints(dependencies: dependencies, engine: engine)
        var order = runs.order(plan, runRequest, context, thread: .existing(threadID), disconnect: .continue)
        order.job.onDisconnect = .continue
        try await runs.answerApproval(plan, &order, threadID: threadID, decider: context.principal?.keyID)
        return try await engine.enqueue(order)
    }

    /// `run.start`: a background run on the thread (created if missing), queued behind the thread's active run, as
    /// LangGraph's server does; its events come through the thread's stream.
    func startRun(_ params: [String: JSONValue], _ request: Request, _ context: RequestContext) async throws -> RunRecord {
        let threadID = try ThreadEndpoints.threadID(context)
        for key in params.keys where !["assistant_id", "input", "config", "metadata", "multitask_strategy", "multitaskStrategy",
                                       "langsmith_tracer"].contains(key) {
            throw APIError.invalid(field: "params.\(key.prefix(60))", "is not a run.start parameter")
        }
        var body: [String: JSONValue] = ["if_not_exists": .string("create"),
                                         "multitask_strategy": params["multitask_strategy"] ?? params["multitaskStrategy"] ?? .string("enqueue")]
        for key in ["assistant_id", "input", "config", "metadata"] { body[key] = params[key] }
        var runRequest = request
        runRequest.body = encodeJSON(body)
        let plan = try await RunPlan(runRequest, resolver: AgentResolver(catalog: dependencies.catalog, reader: engine.reader), tenant: context.tenant,
                                     defaultModes: RunEndpoints.defaultStreamModes, makeID: dependencies.makeID)
        let runs = ThreadRunEndpoints(dependencies: dependencies, engine: engine)
        var order = runs.order(plan, runRequest, context, thread: .createIfMissing(threadID, tenant: context.tenant), disconnect: .continue)
        order.job.onDisconnect = .continue
        return try await runs.making(plan, &order, threadID: threadID, decider: context.principal?.keyID) { order in
            try await engine.enqueue(order)
        }
    }
}
