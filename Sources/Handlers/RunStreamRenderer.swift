import AgentRuntime

/// Turns run events into the frames of the requested stream modes.
final class MessageStreamRenderer: Sendable {
    let events: any EventSink
    let modes: Set<StreamMode>
    let metadata: [String: String]
    private let partial = MutexBox<[String: String]>([:])

    init(events: any EventSink, modes: Set<StreamMode>, runID: String, agentID: String) {
        self.events = events
        self.modes = modes
        self.metadata = ["run_id": runID, "agent_id": agentID, "langgraph_node": "agent"]
    }

    func render(_ event: RunEvent) async throws {
        switch event {
        case .messageDelta(let messageID, let text):
            if modes.contains(.messagesTuple) {
                try await events.send("messages", json: TupleFrame(chunk: MessageChunk(content: text, id: messageID), message: nil, metadata: metadata))
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
                try await events.send("messages/partial", json: [MessageChunk(type: "ai", content: content, id: messageID, tool_calls: nil)])
            }
        case .messageCompleted(let message):
            let node = message.role == .tool ? "tools" : "agent"
            if modes.contains(.messagesTuple) {
                // Text went out as it streamed; what is left to show is a tool request or a tool's answer.
                if message.role == .tool {
                    var tagged = metadata
                    tagged["langgraph_node"] = "tools"
                    try await events.send("messages", json: TupleFrame(chunk: nil, message: OutputMessage(message), metadata: tagged))
                } else if !message.toolCalls.isEmpty {
                    let chunk = MessageChunk(content: message.content, id: message.id, tool_calls: message.toolCalls.map(WireToolCall.init))
                    try await events.send("messages", json: TupleFrame(chunk: chunk, message: nil, metadata: metadata))
                }
            }
            if modes.contains(.messages) {
                try await events.send("messages/complete", json: [OutputMessage(message)])
            }
            if modes.contains(.updates) {
                try await events.send("updates", json: [node: StateValues([message])])
            }
        case .usage(let usage, let turn):
            if modes.contains(.custom) {
                try await events.send("custom", json: CustomEvent(type: "usage", usage: usage, turn: turn))
            }
        case .toolStarted(let call):
            if modes.contains(.custom) {
                try await events.send("custom", json: CustomEvent(type: "tool_call_started", tool_call: WireToolCall(call)))
            }
        case .toolFinished(let call, let result):
            if modes.contains(.custom) {
                try await events.send("custom", json: CustomEvent(type: "tool_call_finished", tool_call: WireToolCall(call), result: result))
            }
        case .toolFailed(let call, let error):
            if modes.contains(.custom) {
                try await events.send("custom", json: CustomEvent(type: "tool_call_failed", tool_call: WireToolCall(call), error: error))
            }
        }
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
