import AgentRuntime
import Foundation
import Runs
import Store

/// LangGraph's stream modes rendered from a run's typed events: the frames a reader asked for, whatever the run's
/// creator asked for. One renderer per reader and run: `messages` accumulates each message's text, and the modes of
/// the graph's progress (`events`, `tasks`, `checkpoints`, `debug`) follow its steps with `LangGraphProgress`.
/// Rendering is deterministic: a reader re-renders the log from its start and resumes by counting frames.
final class LangGraphRenderer: Sendable {
    typealias Frame = (event: String, data: [UInt8])

    let modes: Set<StreamMode>
    let metadata: [String: String]
    private let partial = MutexBox<[String: String]>([:])
    /// The state's keys beside the messages, from the run's start (the run itself changes only the messages).
    private let values = MutexBox<[String: JSONValue]>([:])
    /// The interrupt's frames, sent after the state it paused in (which the log has after it).
    private let interrupted = MutexBox<[Frame]>([])
    /// The graph's progress, kept only for a reader of a mode that shows it.
    let tracking: MutexBox<Tracking>?
    /// The `debug` mode's `timestamp`: the run's creation time, on every frame. The log's events carry no time, and a
    /// time taken while rendering would differ from one read to the next, which `Last-Event-ID` cannot allow.
    let timestamp: String

    struct Tracking: Sendable {
        var progress: LangGraphProgress
        var events: LangGraphEvents?
    }

    /// `createdAt`: the run's creation time (its record's, for a stored run), on which checkpoint ids and debug
    /// timestamps are based; `inputCount`: how many messages of the run's starting state are its input (its job's).
    /// A reader of a stored run passes its record with `init(modes:run:job:)`; the defaults suit only the older modes.
    init(modes: Set<StreamMode>, runID: String, agentID: String, createdAt: Date = Date(timeIntervalSince1970: 0), inputCount: Int? = nil) {
        self.modes = modes
        self.metadata = ["run_id": runID, "agent_id": agentID, "langgraph_node": "agent"]
        self.timestamp = LangGraphDebugFrame.timestamp(createdAt)
        self.tracking = modes.isDisjoint(with: StreamMode.progressModes) ? nil : MutexBox(Tracking(
            progress: LangGraphProgress(runID: runID, createdAt: createdAt, inputCount: inputCount),
            events: modes.contains(.events) ? LangGraphEvents(agentID: agentID) : nil))
    }

    /// A stored run's renderer: its id, agent and creation time from its record, its input from its job.
    convenience init(modes: Set<StreamMode>, run: RunRecord, job: RunJob?) {
        self.init(modes: modes, runID: run.id, agentID: run.assistantID, createdAt: run.createdAt, inputCount: job?.input.count)
    }

    func frames(_ event: RunLogEvent) -> [Frame] {
        let progress = progressFrames(event)
        let frames = modeFrames(event)
        // The stream's error and end come after what the run did until then.
        switch event {
        case .error, .end: return progress + frames
        default: return frames + progress
        }
    }

    private func modeFrames(_ event: RunLogEvent) -> [Frame] {
        var frames: [Frame] = []
        func send<T: Encodable>(_ name: String, _ value: T) { frames.append((name, encodeJSON(value))) }
        switch event {
        case .started(let start):
            send("metadata", Metadata(run_id: start.runID, thread_id: start.threadID, attempt: start.attempt,
                                      context: start.droppedMessages > 0 ? RunResultNote.Context(dropped_messages: start.droppedMessages) : nil))
            values.withLock { $0 = start.values ?? [:] }
            if modes.contains(.values) { send("values", StateValues(stored: start.state, extra: start.values)) }
        case .messageDelta(let messageID, let text):
            if modes.contains(.messagesTuple) {
                send("messages", TupleFrame(chunk: MessageChunk(content: text, id: messageID), message: nil, metadata: metadata))
            }
            if modes.contains(.messages) {
                let (content, first) = partial.withLock { store in
                    let first = store[messageID] == nil
                    store[messageID, default: ""] += text
                    return (store[messageID]!, first)
                }
                if first { send("messages/metadata", [messageID: ["metadata": metadata]]) }
                send("messages/partial", [MessageChunk(type: "ai", content: content, id: messageID, tool_calls: nil)])
            }
        case .messageCompleted(let message):
            let node = message.type == "tool" ? "tools" : "agent"
            if modes.contains(.messagesTuple) {
                // Text went out as it streamed; what is left to show is a tool request or a tool's answer.
                if message.type == "tool" {
                    var tagged = metadata
                    tagged["langgraph_node"] = "tools"
                    send("messages", TupleFrame(chunk: nil, message: message, metadata: tagged))
                } else if let calls = message.tool_calls, !calls.isEmpty {
                    send("messages", TupleFrame(chunk: MessageChunk(content: message.content, id: message.id, tool_calls: calls),
                                                message: nil, metadata: metadata))
                }
            }
            if modes.contains(.messages) { send("messages/complete", [message]) }
            if modes.contains(.updates) { send("updates", [node: StateValues(stored: [message])]) }
        case .usage(let usage, let turn):
            if modes.contains(.custom) { send("custom", CustomEvent(type: "usage", usage: usage, turn: turn)) }
        case .toolStarted(let call):
            if modes.contains(.custom) { send("custom", CustomEvent(type: "tool_call_started", tool_call: call)) }
        case .toolFinished(let call, let result):
            if modes.contains(.custom) { send("custom", CustomEvent(type: "tool_call_finished", tool_call: call, result: result)) }
        case .toolFailed(let call, let error):
            if modes.contains(.custom) { send("custom", CustomEvent(type: "tool_call_failed", tool_call: call, error: error)) }
        case .checkpoint(let state, let usage, let turns):
            if modes.contains(.custom) { send("custom", CustomEvent(type: "run_completed", usage: usage, turn: turns)) }
            if modes.contains(.values) { send("values", StateValues(stored: state, usage: usage, extra: values.withLock { $0 })) }
            frames += interrupted.withLock { stashed in
                defer { stashed = [] }
                return stashed
            }
        case .error(let code, let message):
            send("error", StreamError(error: code, message: message))
        case .end:
            frames.append(("end", Array("null".utf8)))
        case .interrupt(let value):
            // Sent after the state it paused in (the checkpoint that follows), as LangGraph streams an interrupt.
            if let interrupt = LangGraphInterrupts.interrupt(logged: value) {
                var stash: [Frame] = []
                if modes.contains(.values) { stash.append(("values", encodeJSON(["__interrupt__": [interrupt]]))) }
                if modes.contains(.updates) { stash.append(("updates", encodeJSON(["__interrupt__": [interrupt]]))) }
                interrupted.withLock { $0 = stash }
            }
        case .stepStarted, .stepFinished, .messageStarted:
            break
        }
        return frames
    }

    /// A frame of the log written before it was typed: already rendered for its creator's modes; a reader who names
    /// modes gets those of them that are there.
    func legacy(_ record: EventRecord, filter: Set<String>?) -> [Frame] {
        if let filter, let mode = Self.mode(of: record.event), !filter.contains(mode) { return [] }
        return [(record.event, record.data)]
    }

    /// The stream mode an untyped frame belongs to; nil for the frames every reader gets (metadata, error, end).
    static func mode(of event: String) -> String? {
        switch event {
        case "values", "updates", "custom", "events", "tasks", "checkpoints", "debug": event
        case "messages": StreamMode.messagesTuple.rawValue
        case _ where event.hasPrefix("messages/"): StreamMode.messages.rawValue
        default: nil
        }
    }

    struct Metadata: Encodable {
        var run_id: String
        var thread_id: String?
        var attempt: Int
        var context: RunResultNote.Context?
    }

    struct StreamError: Encodable {
        var error: String
        var message: String
    }

    /// `[chunk, metadata]`, as LangGraph's `messages-tuple` mode sends it.
    struct TupleFrame: Encodable {
        var chunk: MessageChunk?
        var message: OutputMessage?
        var metadata: [String: String]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            if let chunk { try container.encode(chunk) } else { try container.encode(message) }
            try container.encode(metadata)
        }
    }
}

/// The `custom` stream mode's frames: tool calls as they start and end, usage per model call and per run.
struct CustomEvent: Encodable {
    var type: String
    var tool_call: WireToolCall?
    var result: String?
    var error: String?
    var usage: Usage?
    var turn: Int?
}
