import AgentRuntime
import Foundation
import Store

/// What a stored run is to do, as any worker reads it back: typed and versioned, so that a run queued by one
/// dialect (or one release) is started by another. Dialect options the engine does not act on (stream modes) are
/// kept as given, for readers that do not name their own.
public struct RunJob: Codable, Sendable, Equatable {
    /// Version 2 carries an assistant (`assistant`) or a budget reservation; jobs without either stay version 1,
    /// which earlier releases read.
    public static let currentVersion = 3

    public enum Disconnect: String, Codable, Sendable {
        /// The run stops when the client that started it leaves.
        case cancel
        /// The run goes on; its events wait in the log (stored runs) or are dropped (stateless runs).
        case `continue`
    }

    public var version: Int
    public var agentID: String
    public var input: [StoredMessage]
    public var config: JSONValue?
    /// The stream modes the creator asked for (a dialect's words: the engine stores every event whatever they are).
    public var streamModes: [String]
    public var onDisconnect: Disconnect
    public var multitaskStrategy: String
    public var webhook: String?
    public var afterSeconds: Double
    /// Sampling settings the request chose within what the agent's model allows.
    public var model: ModelOverrides?
    /// Tools the caller runs itself: offered to the model beside the agent's; a call to one ends the run.
    public var clientTools: [ClientTool]?
    /// The run starts by cutting its thread back to this many messages (the caller resent its conversation from an
    /// earlier point): done once the run holds the thread, so a run that is refused leaves the thread as it was.
    public var keepHistory: Int?
    /// Instructions for this run only, after the agent's own; never written to the thread.
    public var instructions: String?
    /// State keys the input carried beside its messages (LangGraph's state is open): set on the thread as the run is
    /// created, shown with the state; the agent itself reads only the messages.
    public var values: [String: JSONValue]?
    /// The stored assistant the run was made for, with what it changes of the agent; `agentID` is its agent.
    public private(set) var assistant: AssistantBinding?
    /// Which of the server's protocols made the run (langgraph, openai, mcp, agent): a metrics label, nothing more.
    public var origin: String?
    /// The tenant of the key that made it, for metrics (the engine stamps it).
    public var tenant: String?
    /// The W3C `traceparent` of the request that made the run: a worker that runs it later continues that trace.
    public var traceParent: String?

    /// Runs the job as `binding` says; a release that cannot read it refuses the job rather than run the bare agent.
    public mutating func bind(_ binding: AssistantBinding) {
        assistant = binding
        version = max(version, 2)
    }

    /// The decisions about a paused turn's calls that this run carries out before it goes on (version 3).
    public private(set) var resume: ToolDecisions?

    /// LangGraph's `interrupt_before` / `interrupt_after` for this run (version 3).
    public private(set) var breakpoints: Breakpoints?

    public mutating func stop(at breakpoints: Breakpoints) {
        guard !breakpoints.isEmpty else { return }
        self.breakpoints = breakpoints
        version = max(version, 3)
    }

    public mutating func answer(_ decisions: ToolDecisions) {
        resume = decisions
        version = max(version, 3)
    }

    /// The part of the key's daily token budget the run holds (keys with a budget only).
    public private(set) var reservation: TokenReservation?

    /// Carries a budget reservation; a release that cannot read it refuses the job rather than settle it wrongly.
    public mutating func hold(_ reservation: TokenReservation) {
        self.reservation = reservation
        version = max(version, 2)
    }

    /// The id clients know the run's assistant by.
    public var assistantID: String { assistant?.id ?? agentID }

    /// A client's function tool is a tool spec like any other; the run ends at a call of one.
    public typealias ClientTool = ToolSpec

    public struct ModelOverrides: Codable, Sendable, Equatable {
        public var temperature: Double?
        /// Caps the agent's own `max_tokens`; never raises it.
        public var maxTokens: Int?
        public var topP: Double?
        public var stop: [String]?
        public var seed: Int?
        public var responseFormat: JSONValue?

        public init(temperature: Double? = nil, maxTokens: Int? = nil, topP: Double? = nil, stop: [String]? = nil, seed: Int? = nil,
                    responseFormat: JSONValue? = nil) {
            self.temperature = temperature
            self.maxTokens = maxTokens
            self.topP = topP
            self.stop = stop
            self.seed = seed
            self.responseFormat = responseFormat
        }

        enum CodingKeys: String, CodingKey {
            case temperature, maxTokens = "max_tokens", topP = "top_p", stop, seed, responseFormat = "response_format"
        }
    }

    public init(agentID: String, input: [ChatMessage], config: JSONValue? = nil, streamModes: [String], onDisconnect: Disconnect,
                multitaskStrategy: MultitaskStrategy = .reject, webhook: String? = nil, afterSeconds: Double = 0) {
        version = 1
        self.agentID = agentID
        self.input = input.map(StoredMessage.init)
        self.config = config
        self.streamModes = streamModes
        self.onDisconnect = onDisconnect
        self.multitaskStrategy = multitaskStrategy.rawValue
        self.webhook = webhook
        self.afterSeconds = afterSeconds
    }

    enum CodingKeys: String, CodingKey {
        case version, agentID = "agent_id", input, config, streamModes = "stream_modes", onDisconnect = "on_disconnect"
        case multitaskStrategy = "multitask_strategy", webhook, afterSeconds = "after_seconds", model, clientTools = "client_tools"
        case keepHistory = "keep_history", instructions, values, assistant, reservation, origin, tenant, traceParent = "traceparent", resume, breakpoints
    }

    public var messages: [ChatMessage] { input.map(\.chatMessage) }

    public var encoded: JSONText { String(decoding: encodeJSON(self), as: UTF8.self) }

    /// A stored job; one written by a newer release than this one is refused rather than half understood.
    public static func decode(_ text: JSONText) throws -> RunJob {
        let job = try JSONDecoder().decode(RunJob.self, from: Data(text.utf8))
        guard job.version <= currentVersion else {
            throw RunProblem(status: 422, code: "job_version_unsupported",
                             message: "The run was queued by a newer release (job version \(job.version)); this worker reads up to \(currentVersion).")
        }
        return job
    }
}
