import AgentRuntime
import Foundation
import Runs

/// LangGraph's `events` stream mode: LangChain's `astream_events` (version 2) dicts, as LangGraph's server forwards
/// them, rendered from the run's log. The graph is `LangGraph` (its run id is the run's), each step a chain named for
/// its node (`agent`, `tools`), the model call a chat model run inside `agent`, each server tool a tool run inside
/// `tools`; `parent_ids` go from the graph down. Child run ids come from `LangGraphProgress.id`, so a re-read gives the
/// same ids. As LangGraph's server does, the graph's own `on_chain_stream` is not sent; a failed step or run has no
/// `on_chain_end` (the stream's `error` frame says why).
struct LangGraphEvents: Sendable {
    let agentID: String
    /// The run's metadata on every event (LangGraph's config metadata), set when the run starts.
    private var base: [String: JSONValue] = [:]
    /// The calls of the tools step, by call id: arguments and whether the tool failed, for their `on_tool_end`.
    private var calls: [String: (args: JSONValue, failed: Bool)] = [:]

    init(agentID: String) { self.agentID = agentID }

    /// One `astream_events` dict.
    struct Event<Payload: Encodable>: Encodable {
        var event: String
        var data: Payload
        var name: String
        var tags: [String]
        var run_id: String
        var metadata: [String: JSONValue]
        var parent_ids: [String]
    }

    /// The chat model's name in its events: LangChain names a run for the model's class; ours is one interface over
    /// every provider, and the log does not say which model a turn used until it ends (`response_metadata`).
    static let modelName = "ChatModel"

    /// Frames for what `progress` yielded for a log event: a step's chain starting (and, for `agent`, its chat model)
    /// and ending.
    mutating func frames(_ item: LangGraphProgress.Item, progress: LangGraphProgress) -> [[UInt8]] {
        switch item {
        case .checkpoint:
            return []
        case .taskStarted(let task):
            let node = nodeRun(task, progress)
            var frames = [encodeJSON(Event(event: "on_chain_start", data: ["input": StateValues(stored: task.input)], name: task.name,
                                           tags: node.tags, run_id: node.id, metadata: node.metadata, parent_ids: [progress.runID]))]
            if task.name == RunStep.agent.rawValue {
                let model = modelRun(task, progress)
                frames.append(encodeJSON(Event(event: "on_chat_model_start", data: ["input": modelInput(task)], name: Self.modelName,
                                               tags: model.tags, run_id: model.id, metadata: model.metadata, parent_ids: model.parents)))
            }
            return frames
        case .taskFinished(let result):
            // An error or an interrupt ends the graph's run; astream_events has no end for what did not end.
            guard result.error == nil, result.interrupts.isEmpty else { return [] }
            let node = nodeRun(result.task, progress)
            let written = StateValues(stored: result.messages)
            return [
                encodeJSON(Event(event: "on_chain_stream", data: ["chunk": written], name: result.task.name,
                                 tags: node.tags, run_id: node.id, metadata: node.metadata, parent_ids: [progress.runID])),
                encodeJSON(Event(event: "on_chain_end", data: ["output": written, "input": StateValues(stored: result.task.input)],
                                 name: result.task.name, tags: node.tags, run_id: node.id, metadata: node.metadata, parent_ids: [progress.runID])),
            ]
        }
    }

    /// Frames of the log event itself (after those of its progress items): the graph starting and ending, the model's
    /// chunks and answer, the tools' calls.
    mutating func frames(_ event: RunLogEvent, progress: LangGraphProgress) -> [[UInt8]] {
        let root = progress.runID
        switch event {
        case .started(let start):
            base = ["run_id": .string(root), "assistant_id": .string(agentID), "graph_id": .string(agentID),
                    "run_attempt": .number(Double(start.attempt))]
            if let thread = start.threadID { base["thread_id"] = .string(thread) }
            calls = [:]
            return [encodeJSON(Event(event: "on_chain_start", data: ["input": StateValues(stored: progress.input)], name: "LangGraph",
                                     tags: [], run_id: root, metadata: base, parent_ids: []))]
        case .messageDelta(let id, let text):
            guard let task = progress.running, task.name == RunStep.agent.rawValue else { return [] }
            return [modelStream(task, progress, chunk: Self.chunk(content: text, id: id))]
        case .messageCompleted(let message) where message.type == "ai":
            guard let task = progress.running, task.name == RunStep.agent.rawValue else { return [] }
            var frames: [[UInt8]] = []
            if let toolCalls = message.tool_calls, !toolCalls.isEmpty {
                // The tool request as the model's last chunk, so that adding the chunks up gives the whole message.
                frames.append(modelStream(task, progress, chunk: Self.chunk(content: "", id: message.id, toolCalls: toolCalls)))
            }
            let model = modelRun(task, progress)
            frames.append(encodeJSON(Event(event: "on_chat_model_end", data: ["output": Self.langChain(message), "input": modelInput(task)],
                                           name: Self.modelName, tags: model.tags, run_id: model.id, metadata: model.metadata,
                                           parent_ids: model.parents)))
            return frames
        case .messageCompleted(let message) where message.type == "tool":
            // The tool's answer as the ToolMessage LangChain's tool run returns: its id is the message's.
            guard let task = progress.running, let callID = message.tool_call_id, let call = calls.removeValue(forKey: callID) else { return [] }
            let tool = toolRun(task, progress, callID: callID)
            return [encodeJSON(Event(event: "on_tool_end",
                                     data: ["output": Self.langChain(message, status: call.failed ? "error" : "success"), "input": call.args],
                                     name: message.name ?? "", tags: tool.tags, run_id: tool.id, metadata: tool.metadata, parent_ids: tool.parents))]
        case .toolStarted(let call):
            guard let task = progress.running else { return [] }
            calls[call.id] = (call.args, false)
            let tool = toolRun(task, progress, callID: call.id)
            return [encodeJSON(Event(event: "on_tool_start", data: ["input": call.args], name: call.name,
                                     tags: tool.tags, run_id: tool.id, metadata: tool.metadata, parent_ids: tool.parents))]
        case .toolFailed(let call, _):
            calls[call.id]?.failed = true
            return []
        case .checkpoint(let state, let usage, _):
            return [encodeJSON(Event(event: "on_chain_end", data: ["output": StateValues(stored: state, usage: usage)], name: "LangGraph",
                                     tags: [], run_id: root, metadata: base, parent_ids: []))]
        case .stepStarted, .stepFinished, .messageStarted, .messageCompleted, .toolFinished, .usage, .interrupt, .error, .end:
            return []
        }
    }

    private typealias Run = (id: String, tags: [String], metadata: [String: JSONValue], parents: [String])

    /// A step's chain run, with LangGraph's per-task metadata.
    private func nodeRun(_ task: LangGraphProgress.Task, _ progress: LangGraphProgress) -> Run {
        var metadata = base
        metadata["langgraph_step"] = .number(Double(task.step))
        metadata["langgraph_node"] = .string(task.name)
        metadata["langgraph_triggers"] = .array(task.triggers.map(JSONValue.string))
        metadata["langgraph_path"] = ["__pregel_pull", .string(task.name)]
        metadata["langgraph_checkpoint_ns"] = .string("\(task.name):\(task.id)")
        return (progress.id("chain", task.name, String(task.turn)), ["graph:step:\(task.step)"], metadata, [progress.runID])
    }

    /// A run inside a step (the model call, a tool call): the step's metadata and its checkpoint namespace.
    private func childRun(_ task: LangGraphProgress.Task, _ progress: LangGraphProgress, id: String) -> Run {
        let node = nodeRun(task, progress)
        var metadata = node.metadata
        metadata["checkpoint_ns"] = .string("\(task.name):\(task.id)")
        return (id, ["seq:step:1"], metadata, [progress.runID, node.id])
    }

    private func modelRun(_ task: LangGraphProgress.Task, _ progress: LangGraphProgress) -> Run {
        var run = childRun(task, progress, id: progress.id("model", String(task.turn)))
        run.metadata["ls_model_type"] = "chat"
        return run
    }

    private func toolRun(_ task: LangGraphProgress.Task, _ progress: LangGraphProgress, callID: String) -> Run {
        childRun(task, progress, id: progress.id("tool", String(task.turn), callID))
    }

    private func modelStream(_ task: LangGraphProgress.Task, _ progress: LangGraphProgress, chunk: JSONValue) -> [UInt8] {
        let model = modelRun(task, progress)
        return encodeJSON(Event(event: "on_chat_model_stream", data: ["chunk": chunk], name: Self.modelName,
                                tags: model.tags, run_id: model.id, metadata: model.metadata, parent_ids: model.parents))
    }

    /// What the model was given: the state's messages, as one prompt (LangChain sends a list of message lists).
    private func modelInput(_ task: LangGraphProgress.Task) -> JSONValue {
        ["messages": [.array(task.input.map { Self.langChain($0) })]]
    }

    /// An `AIMessageChunk` as LangChain dumps it; a tool request carries both its calls and their chunks.
    static func chunk(content: String, id: String, toolCalls: [StoredToolCall] = []) -> JSONValue {
        let calls = toolCalls.map { JSONValue(encoding: $0) }
        let chunks: [JSONValue] = toolCalls.enumerated().map { index, call in
            ["name": .string(call.name), "args": .string(call.toolCall.arguments), "id": .string(call.id),
             "index": .number(Double(index)), "type": "tool_call_chunk"]
        }
        return ["content": .string(content), "additional_kwargs": [:], "response_metadata": [:], "type": "AIMessageChunk",
                "name": .null, "id": .string(id), "tool_calls": .array(calls), "invalid_tool_calls": [], "usage_metadata": .null,
                "tool_call_chunks": .array(chunks), "chunk_position": .null]
    }

    /// A message as LangChain's `model_dump()` writes it: the stored shape with the fields it always has.
    static func langChain(_ message: StoredMessage, status: String? = nil) -> JSONValue {
        guard case .object(var fields) = JSONValue(encoding: message) else { return .null }
        fields["additional_kwargs"] = [:]
        fields["response_metadata"] = fields["response_metadata"] ?? [:]
        fields["name"] = fields["name"] ?? .null
        switch message.type {
        case "ai":
            fields["tool_calls"] = fields["tool_calls"] ?? []
            fields["invalid_tool_calls"] = []
            fields["usage_metadata"] = fields["usage_metadata"] ?? .null
        case "tool":
            fields["status"] = .string(status ?? (message.content.hasPrefix("error: ") ? "error" : "success"))
            fields["artifact"] = .null
        default:
            break
        }
        return .object(fields)
    }
}

extension JSONValue {
    /// A value as JSON, for a payload assembled from typed parts.
    init<T: Encodable>(encoding value: T) {
        self = (try? JSONDecoder().decode(JSONValue.self, from: Data(encodeJSON(value)))) ?? .null
    }
}
