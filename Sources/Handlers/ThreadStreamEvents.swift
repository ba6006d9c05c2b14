import AgentRuntime
import Foundation
import Runs
import Store

/// The thread stream's events (langgraph-sdk's `threads.stream()`, `langchain-protocol`), rendered from one run's
/// typed log. One renderer per run and reader; the same log renders the same events in the same order, so an event's
/// place in that order numbers it on every read, on every worker.
final class ThreadStreamRenderer: Sendable {
    struct Event {
        var method: String
        var node: String?
        var data: [UInt8]

        /// The subscription channel it belongs to (`input.requested` is the `input` channel's).
        var channel: String { method == "input.requested" ? "input" : method }
    }

    let graphName: String
    private struct State {
        /// Messages whose text block is open (started, not yet finished).
        var open: Set<String> = []
        var error: String?
        var checkpointed = false
        /// The run paused for approval: `interrupted` is its last lifecycle event, not `completed`.
        var paused = false
        var values: [String: JSONValue] = [:]
        /// The graph's steps, for the `tasks` and `checkpoints` channels (the same ids as LangGraph's stream modes).
        var progress: LangGraphProgress
    }
    private let state: MutexBox<State>

    /// `run` and `job` as the run's record and job have them: the tasks' and checkpoints' ids derive from them.
    init(graphName: String, run: RunRecord, job: RunJob?) {
        self.graphName = graphName
        self.state = MutexBox(State(progress: LangGraphProgress(runID: run.id, createdAt: run.createdAt, inputCount: job?.input.count)))
    }

    func events(_ event: RunLogEvent) -> [Event] {
        let progress = state.withLock { $0.progress.advance(event) }.map { item -> Event in
            switch item {
            case .checkpoint(let checkpoint): Event(method: "checkpoints", data: encodeJSON(checkpoint.summary))
            case .taskStarted(let task): Event(method: "tasks", node: task.name, data: encodeJSON(task))
            case .taskFinished(let result): Event(method: "tasks", node: result.task.name, data: encodeJSON(result))
            }
        }
        let events = modeEvents(event)
        // The run's end comes after what it did until then.
        if case .end = event { return progress + events }
        return events + progress
    }

    private func modeEvents(_ event: RunLogEvent) -> [Event] {
        var events: [Event] = []
        func add<T: Encodable>(_ method: String, node: String? = nil, _ data: T) {
            events.append(Event(method: method, node: node, data: encodeJSON(data)))
        }
        switch event {
        case .started(let start):
            add("lifecycle", Lifecycle(event: "running", graph_name: graphName))
            state.withLock { $0.values = start.values ?? [:] }
            add("values", StateValues(stored: start.state, extra: start.values))
        case .messageStarted(let id):
            events += messageStart(id)
        case .messageDelta(let id, let text):
            if state.withLock({ !$0.open.contains(id) }) { events += messageStart(id) }
            add("messages", Block(event: "content-block-delta", index: 0, delta: .init(type: "text-delta", text: text)))
        case .messageCompleted(let message) where message.type == "ai":
            let wasOpen = state.withLock { $0.open.remove(message.id) != nil }
            if !wasOpen { events += messageStart(message.id, open: false) }
            if wasOpen || !message.content.isEmpty {
                if !wasOpen { add("messages", Block(event: "content-block-start", index: 0, content: .text(""))) }
                add("messages", Block(event: "content-block-finish", index: 0, content: .text(message.content)))
            }
            for (offset, call) in (message.tool_calls ?? []).enumerated() {
                let index = offset + 1
                add("messages", Block(event: "content-block-start", index: index,
                                      content: .toolCallChunk(id: call.id, name: call.name, index: offset)))
                add("messages", Block(event: "content-block-finish", index: index, content: .toolCall(call)))
            }
            add("messages", MessageFinish(usage: message.usage_metadata.map(FinishUsage.init),
                                          metadata: message.response_metadata ?? [:]))
            add("updates", node: "agent", StateValues(stored: [message]))
        case .messageCompleted(let message):
            add("updates", node: message.type == "tool" ? "tools" : "agent", StateValues(stored: [message]))
        case .toolStarted(let call):
            add("tools", node: "tools", ToolEvent(event: "tool-started", tool_call_id: call.id, tool_name: call.name, input: call.args))
        case .toolFinished(let call, let result):
            add("tools", node: "tools", ToolEvent(event: "tool-finished", tool_call_id: call.id, output: ToolOutput(
                content: result, tool_call_id: call.id, name: call.name, status: "success")))
        case .toolFailed(let call, let error):
            add("tools", node: "tools", ToolEvent(event: "tool-error", tool_call_id: call.id, message: error))
        case .checkpoint(let messages, _, _):
            state.withLock { $0.checkpointed = true }
            // The thread's state as GET /threads/{id}/state answers it (which has no usage).
            add("values", StateValues(stored: messages, extra: state.withLock { $0.values }))
        case .interrupt(let value):
            // An approval asks for input; a static breakpoint only stops the run.
            if let interrupt = LangGraphInterrupts.interrupt(logged: value) {
                let id = ApprovalRequest.decode(value)?.id ?? ""
                let payload = interrupt.objectValue?["value"] ?? value
                add("input.requested", InputRequested(interrupt_id: id, payload: payload, value: payload))
            }
            add("lifecycle", Lifecycle(event: "interrupted", graph_name: graphName))
            state.withLock { $0.paused = true }
        case .error(_, let message):
            state.withLock { $0.error = message }
        case .end:
            if state.withLock({ $0.paused }) { break }
            let error = state.withLock { $0.checkpointed ? nil : ($0.error ?? "The run ended without finishing.") }
            add("lifecycle", Lifecycle(event: error == nil ? "completed" : "failed", graph_name: graphName, error: error))
        case .usage, .stepStarted, .stepFinished:
            break
        }
        return events
    }

    /// A frame of a log written before it was typed: only where the run ends is known.
    func legacy(_ record: EventRecord) -> [Event] {
        switch record.event {
        case "error":
            state.withLock { $0.error = String(decoding: record.data, as: UTF8.self) }
            return []
        case "end":
            let error = state.withLock { $0.error }
            return [Event(method: "lifecycle", data: encodeJSON(Lifecycle(event: error == nil ? "completed" : "failed",
                                                                             graph_name: graphName, error: error)))]
        default:
            return []
        }
    }

    private func messageStart(_ id: String, open: Bool = true) -> [Event] {
        if open { _ = state.withLock { $0.open.insert(id) } }
        var events = [Event(method: "messages", data: encodeJSON(MessageStart(id: id)))]
        if open { events.append(Event(method: "messages", data: encodeJSON(Block(event: "content-block-start", index: 0, content: .text(""))))) }
        return events
    }

    struct Lifecycle: Encodable {
        var event: String
        var graph_name: String
        var error: String?
    }

    struct MessageStart: Encodable {
        var event = "message-start"
        var role = "ai"
        var id: String
    }

    struct Block: Encodable {
        var event: String
        var index: Int
        var content: Content?
        var delta: Delta?

        struct Delta: Encodable {
            var type: String
            var text: String
        }

        enum Content: Encodable {
            case text(String)
            case toolCallChunk(id: String, name: String, index: Int)
            case toolCall(StoredToolCall)

            enum Keys: String, CodingKey { case type, text, id, name, args, index }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                switch self {
                case .text(let text):
                    try container.encode("text", forKey: .type)
                    try container.encode(text, forKey: .text)
                case .toolCallChunk(let id, let name, let index):
                    try container.encode("tool_call_chunk", forKey: .type)
                    try container.encode(id, forKey: .id)
                    try container.encode(name, forKey: .name)
                    try container.encode("", forKey: .args)
                    try container.encode(index, forKey: .index)
                case .toolCall(let call):
                    try container.encode("tool_call", forKey: .type)
                    try container.encode(call.id, forKey: .id)
                    try container.encode(call.name, forKey: .name)
                    try container.encode(call.args, forKey: .args)
                }
            }
        }
    }

    struct MessageFinish: Encodable {
        var event = "message-finish"
        var usage: FinishUsage?
        var metadata: [String: String]
    }

    struct FinishUsage: Encodable {
        var input_tokens: Int
        var output_tokens: Int
        var total_tokens: Int

        init(_ usage: Usage) {
            (input_tokens, output_tokens, total_tokens) = (usage.inputTokens, usage.outputTokens, usage.totalTokens)
        }
    }

    struct ToolEvent: Encodable {
        var event: String
        var tool_call_id: String
        var tool_name: String?
        var input: JSONValue?
        var output: ToolOutput?
        var message: String?
    }

    struct ToolOutput: Encodable {
        var type = "tool"
        var content: String
        var tool_call_id: String
        var name: String
        var status: String
    }

    struct InputRequested: Encodable {
        var interrupt_id: String
        /// The protocol's field; langgraph-sdk 0.4.14 reads `value`, so both are sent.
        var payload: JSONValue
        var value: JSONValue
    }
}

/// `{"type":"event","event_id","seq","method","params":{"namespace","timestamp","data","node"?}}`: the protocol's
/// envelope, written by hand around the already encoded `data`.
enum ThreadStreamEnvelope {
    static func encode(_ event: ThreadStreamRenderer.Event, seq: Int64, eventID: String, timestamp: Int64) -> [UInt8] {
        var out = Array(#"{"type":"event","event_id":"#.utf8)
        out += encodeJSON(eventID)
        out += Array(#","seq":\#(seq),"method":"#.utf8)
        out += encodeJSON(event.method)
        out += Array(#","params":{"namespace":[],"timestamp":\#(timestamp),"#.utf8)
        if let node = event.node { out += Array(#""node":"#.utf8) + encodeJSON(node) + Array(",".utf8) }
        out += Array(#""data":"#.utf8) + event.data + Array("}}".utf8)
        return out
    }
}
