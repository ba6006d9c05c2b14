import Crypto
import AgentRuntime
import Foundation
import Telemetry
import Runs
import Store

/// The JSON shapes of LangGraph's threads, runs and states, built from store records.
enum ThreadWire {
    static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func object(_ text: JSONText?) -> JSONValue {
        guard let text, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return .object([:]) }
        return value
    }

    /// The thread's messages, and the state keys clients sent beside them (`extra`, a JSON object).
    static func values(_ messages: [MessageRecord], extra: JSONText = "{}") -> JSONValue {
        var values: [String: JSONValue] = [:]
        if extra != "{}", case .object(let keys) = object(extra) { values = keys }
        values["messages"] = .array(messages.map { object($0.body) })
        return .object(values)
    }

    struct Thread: Encodable {
        var thread_id: String
        var created_at: String
        var updated_at: String
        var metadata: JSONValue
        var status: String
        var values: JSONValue
        var interrupts: [String: [JSONValue]] = [:]
        var ttl: TTL?
        var expires_at: String?

        init(_ record: ThreadRecord, messages: [MessageRecord]) {
            thread_id = Tenancy.publicID(record.id)
            created_at = ThreadWire.time(record.createdAt)
            updated_at = ThreadWire.time(record.updatedAt)
            metadata = ThreadWire.object(record.metadata)
            status = record.status.rawValue
            values = ThreadWire.values(messages, extra: record.values)
            ttl = record.ttl.map { TTL(ttl: $0.seconds / 60) }
            expires_at = record.expiresAt.map(ThreadWire.time)
            if let (request, interrupt) = LangGraphInterrupts.pending(record), let interrupt {
                interrupts = [LangGraphInterrupts.taskID(request): [interrupt]]
            }
        }
    }

    /// LangGraph's thread TTL: minutes, and what happens at the end.
    struct TTL: Encodable {
        var strategy = "delete"
        var ttl: Double
    }

    struct Run: Encodable {
        var run_id: String
        var thread_id: String?
        var assistant_id: String
        var created_at: String
        var updated_at: String
        var status: String
        var metadata: JSONValue
        var multitask_strategy: String
        var on_disconnect: String
        var kwargs: JSONValue
        var attempts: Int
        var cancel_action: String?
        var result: JSONValue?
        var background: Bool
        var webhook: String?
        /// One entry per attempt: the worker, when it started, and `ended` when it did not finish (worker_lost).
        var attempt_log: JSONValue
        /// The trace of the request that made the run (with tracing on): find its spans, and its log lines, by it.
        var trace_id: String?

        init(_ record: RunRecord) {
            run_id = record.id
            thread_id = record.threadID.map(Tenancy.publicID)
            assistant_id = record.assistantID
            created_at = ThreadWire.time(record.createdAt)
            updated_at = ThreadWire.time(record.updatedAt)
            status = record.status.rawValue
            metadata = ThreadWire.object(record.metadata)
            multitask_strategy = record.multitaskStrategy.rawValue
            on_disconnect = record.onDisconnect
            kwargs = ThreadWire.object(record.kwargs)
            attempts = record.attempts
            cancel_action = record.cancelAction?.rawValue
            result = record.result.map(ThreadWire.object)
            background = record.background
            webhook = record.webhook
            attempt_log = Self.opaqueWorkers(ThreadWire.object(record.attemptLog))
            trace_id = Self.traceID(record.job)
        }

        static func traceID(_ job: JSONText?) -> String? {
            struct Traced: Decodable { var traceparent: String? }
            guard let job, job.contains("\"traceparent\"") else { return nil }
            return Traces.traceID(of: (try? JSONDecoder().decode(Traced.self, from: Data(job.utf8)))?.traceparent)
        }

        /// Which attempts ran on the same worker stays readable; the worker's host name and process id do not leave
        /// the server (its log names them).
        static func opaqueWorkers(_ log: JSONValue) -> JSONValue {
            guard case .array(let attempts) = log else { return log }
            return .array(attempts.map { attempt in
                guard case .object(var fields) = attempt, case .string(let worker)? = fields["worker"] else { return attempt }
                fields["worker"] = .string(String(SHA256.hash(data: Array(worker.utf8)).lowercaseHex.prefix(12)))
                return .object(fields)
            })
        }
    }

    struct Checkpoint: Encodable {
        var thread_id: String
        var checkpoint_ns = ""
        var checkpoint_id: String?
    }

    struct State: Encodable {
        var values: JSONValue
        var next: [String] = []
        var tasks: [JSONValue] = []
        var interrupts: [JSONValue] = []
        var checkpoint: Checkpoint
        var parent_checkpoint: Checkpoint?
        var metadata: JSONValue
        var created_at: String?

        /// The state after `checkpoint`, or the empty state of a thread that has none yet. `extra`: the thread's state
        /// keys beside its messages, as they are now (they are not kept per checkpoint).
        init(threadID: String, checkpoint: CheckpointRecord?, messages: [MessageRecord], extra: JSONText = "{}") {
            values = ThreadWire.values(Array(messages.prefix(checkpoint?.messageCount ?? 0)), extra: extra)
            let threadID = Tenancy.publicID(threadID)
            self.checkpoint = Checkpoint(thread_id: threadID, checkpoint_id: checkpoint?.id)
            parent_checkpoint = checkpoint?.parentID.map { Checkpoint(thread_id: threadID, checkpoint_id: $0) }
            metadata = ThreadWire.object(checkpoint?.metadata)
            created_at = checkpoint.map { ThreadWire.time($0.createdAt) }
        }

        /// The thread's latest state waits for approval: the `tools` step is next, with its interrupt.
        mutating func waiting(_ thread: ThreadRecord) {
            guard let (request, interrupt) = LangGraphInterrupts.pending(thread) else { return }
            next = [LangGraphInterrupts.step(request)]
            interrupts = interrupt.map { [$0] } ?? []
            tasks = [LangGraphInterrupts.task(request, interrupt: interrupt)]
        }

        enum CodingKeys: String, CodingKey {
            case values, next, tasks, interrupts, checkpoint, parent_checkpoint, metadata, created_at
        }

        /// `parent_checkpoint` and `created_at` are null rather than absent, as LangGraph sends them: RemoteGraph reads
        /// `state["parent_checkpoint"]` without a default.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(values, forKey: .values)
            try container.encode(next, forKey: .next)
            try container.encode(tasks, forKey: .tasks)
            try container.encode(interrupts, forKey: .interrupts)
            try container.encode(checkpoint, forKey: .checkpoint)
            try container.encode(parent_checkpoint, forKey: .parent_checkpoint)
            try container.encode(metadata, forKey: .metadata)
            try container.encode(created_at, forKey: .created_at)
        }
    }
}

extension MultitaskStrategy: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

extension ThreadStatus: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

extension RunStatus: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

extension IfExists: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

extension CancelAction: Decodable {
    public init(from decoder: any Decoder) throws { self = try decodeEnum(decoder, Self.self) }
}

/// The body of a webhook delivery: `{"id", "type", "created_at", "data", "object"}` with the run in `data`.
struct WebhookBody: Encodable {
    var id: String
    var type: String
    var created_at: Int
    var data: ThreadWire.Run
    var object = "event"
}

extension RunFormats {
    /// LangGraph's: webhooks carry the run as LangGraph shows it; runs queued before jobs were stored kept the
    /// LangGraph request they were created with.
    /// Runs made through the Responses API end as OpenAI's `response.*` events, whose `data` is the response's id.
    public static func langGraph(catalog: AgentCatalog) -> RunFormats {
        RunFormats(
            webhookType: { run in ResponsesWire.isResponse(run) ? ResponsesWire.webhookType(run) : WebhookEvent.type(for: run) },
            webhookPayload: { run, id, type in
                let now = Int(Date().timeIntervalSince1970)
                if ResponsesWire.isResponse(run) {
                    return encodeJSON(ResponsesWire.WebhookBody(id: id, type: type, created_at: now, data: ["id": ResponsesWire.responseID(run.id)]))
                }
                return encodeJSON(WebhookBody(id: id, type: type, created_at: now, data: ThreadWire.Run(run)))
            },
            legacyJob: { run in try RunPlan.legacyJob(run, catalog: catalog) })
    }
}
