import AgentRuntime
import Foundation
import Runs
import Store

/// langgraph-sdk's `threads.update_state` and `threads.get_state(checkpoint=...)`: a thread's state changed outside any
/// run, and read at a checkpoint given as LangGraph's checkpoint object.
struct ThreadStateEndpoints {
    let engine: RunEngine
    let makeID: @Sendable () -> String
    var store: StoreReader { engine.reader }

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads/{thread_id}/state", operationID: "thread_update_state", access: .scope("threads:write"),
                         summary: "Update the thread's state: add, replace or remove messages, set state keys", doc: .threadUpdateState,
                         handler: .async { request, context in try await update(request, context) }))
        router.add(Route("POST", "/threads/{thread_id}/state/checkpoint", operationID: "thread_state_at_checkpoint", access: .scope("threads:read"),
                         summary: "The thread's state at a checkpoint (LangGraph's checkpoint object)", doc: .threadStateAtCheckpoint,
                         handler: .async { request, context in
            struct Body: Decodable {
                var checkpoint: ThreadEndpoints.CheckpointRef
                var subgraphs: Bool?
            }
            // Another tenant's thread (or none) is a 404 whatever the body says.
            let id = try ThreadEndpoints.threadID(context)
            guard try await store.thread(id) != nil else { throw APIError.threadNotFound(id) }
            let body = try request.decodeJSON(Body.self)
            return try await ThreadEndpoints(engine: engine, makeID: makeID).state(id, checkpointID: body.checkpoint.checkpointID)
        }))
    }

    /// The graph's nodes an update may be written as (`as_node`): the agent's two steps.
    static let nodes = ["agent", "tools"]

    struct UpdateBody: Decodable {
        var values: StateUpdate?
        var as_node: String?
        var checkpoint: ThreadEndpoints.CheckpointRef?
        var checkpoint_id: String?
    }

    /// LangGraph's state update: `messages` through its `add_messages` reducer (a message with a known id replaces
    /// it, `{"type": "remove", "id"}` removes one, others are appended); other keys replace the thread's keys.
    struct StateUpdate: Decodable {
        var messages: [JSONValue]
        var values: [String: JSONValue]

        init(from decoder: any Decoder) throws {
            let all = try decoder.container(keyedBy: AnyKey.self)
            var values: [String: JSONValue] = [:]
            var messages: [JSONValue] = []
            for key in all.allKeys {
                let value = try all.decode(JSONValue.self, forKey: key)
                if key.stringValue == "messages" {
                    switch value {
                    case .array(let list): messages = list
                    case .object: messages = [value]
                    case .null: break
                    default: throw APIError.invalid(field: "values.messages", "must be a list of messages (or one message)")
                    }
                } else {
                    values[key.stringValue] = value
                }
            }
            for key in values.keys where key.hasPrefix("__") || key == "usage" {
                throw APIError.invalid(field: "values.\(key.prefix(60))", "is reserved (keys starting with __, and usage)")
            }
            if !values.isEmpty, encodeJSON(values).count > RunInput.maxValuesBytes {
                throw APIError(status: 413, code: "thread_state_too_large",
                               detail: "The state beside the messages is more than \(RunInput.maxValuesBytes / 1024) KiB.", field: "values")
            }
            self.messages = messages
            self.values = values
        }
    }

    func update(_ request: Request, _ context: RequestContext) async throws -> Response {
        let id = try ThreadEndpoints.threadID(context)
        guard try await store.thread(id) != nil else { throw APIError.threadNotFound(id) }
        let body = try request.decodeJSON(UpdateBody.self)
        if let node = body.as_node, !Self.nodes.contains(node) {
            throw APIError.invalid(field: "as_node", "unknown node '\(node.prefix(60))'; this graph's nodes are \(Self.nodes.joined(separator: ", "))")
        }
        if let asked = body.checkpoint?.checkpointID ?? body.checkpoint_id {
            let latest = try await store.checkpoints(thread: id, limit: 1, before: nil).first?.id
            guard asked == latest else {
                throw APIError(status: 409, code: "checkpoint_not_latest",
                               detail: "Updates apply to the thread's latest checkpoint; to go back to an earlier one, run from it (checkpoint_id on a run).",
                               field: "checkpoint")
            }
        }
        guard let update = body.values else { throw APIError.invalid(field: "values", "is required: the state keys to set") }
        let stored = Set(try await store.messages(thread: id, limit: nil).compactMap { try? StoredMessage.decode($0.body).id })
        var removing: [String] = []
        var replacing: [(id: String, body: JSONText)] = []
        var adding: [(id: String, body: JSONText)] = []
        for (index, item) in update.messages.enumerated() {
            let field = "values.messages[\(index)]"
            if case .object(let object) = item, object["type"] == "remove" {
                guard case .string(let messageID)? = object["id"], stored.contains(messageID) else {
                    throw APIError(status: 404, code: "message_not_found", detail: "\(field): the thread has no message with that id to remove.",
                                   field: field + ".id")
                }
                removing.append(messageID)
                continue
            }
            let message = try Self.stateMessage(item, field: field, makeID: makeID)
            let text = StoredMessage.encode(message)
            if stored.contains(message.id), !removing.contains(message.id) {
                replacing.append((message.id, text))
            } else {
                adding.append((message.id, text))
            }
        }
        let values = update.values.isEmpty ? nil : String(decoding: encodeJSON(update.values), as: UTF8.self)
        let checkpointID = try await engine.updateState(thread: id, removing: removing, replacing: replacing, adding: adding, values: values)
        context.logger.info("thread.state_updated", metadata: [
            "removed": "\(removing.count)", "replaced": "\(replacing.count)", "added": "\(adding.count)",
        ])
        return .json(encodeJSON(["checkpoint": [
            "thread_id": .string(Tenancy.publicID(id)), "checkpoint_ns": "", "checkpoint_id": .string(checkpointID),
        ] as JSONValue]))
    }

    /// A message of a state update: any message a thread's state shows, so that a state read and written back loses
    /// nothing: an input message, a `tool` message (with the `tool_call_id` it answers) and an assistant message's
    /// `tool_calls` (LangChain's `{id, name, args}` or OpenAI's `{id, function: {name, arguments}}`), with its usage and
    /// response metadata.
    static func stateMessage(_ item: JSONValue, field: String, makeID: () -> String) throws -> ChatMessage {
        guard case .object(var object) = item else { throw APIError.invalid(field: field, "must be a message (an object)") }
        let roleKey = object["role"] != nil ? "role" : "type"
        let isTool = object[roleKey]?.stringValue?.lowercased() == "tool"
        if isTool {
            guard case .string(let callID)? = object["tool_call_id"], !callID.isEmpty else {
                throw APIError.invalid(field: field + ".tool_call_id", "is required for a tool message: the id of the call it answers")
            }
            // Its content is read as any message's.
            object[roleKey] = "user"
        }
        let sent: InputMessage
        do {
            sent = try JSONDecoder().decode(InputMessage.self, from: Data(encodeJSON(JSONValue.object(object))))
        } catch let error as DecodingError {
            let inner = error.fieldPath
            throw APIError.invalid(field: inner.isEmpty ? field : field + "." + inner, error.reason)
        }
        var message = ChatMessage(id: sent.id ?? makeID(), role: isTool ? .tool : sent.role, content: sent.content, name: sent.name,
                                  toolCallID: object["tool_call_id"]?.stringValue)
        message.images = sent.images
        switch object["tool_calls"] {
        case nil, .null?:
            break
        case let calls? where message.role == .assistant:
            message.toolCalls = try toolCalls(calls, field: field + ".tool_calls")
        default:
            throw APIError.invalid(field: field + ".tool_calls", "only an assistant (ai) message calls tools")
        }
        if message.role == .assistant {
            if case .object? = object["usage_metadata"] {
                message.usage = try? JSONDecoder().decode(Usage.self, from: Data(encodeJSON(object["usage_metadata"]!)))
            }
            let metadata = object["response_metadata"]?.objectValue
            message.finishReason = metadata?["finish_reason"]?.stringValue
            message.modelName = metadata?["model_name"]?.stringValue
        }
        return message
    }

    static func toolCalls(_ value: JSONValue, field: String) throws -> [ToolCall] {
        guard case .array(let list) = value else { throw APIError.invalid(field: field, "must be a list of tool calls") }
        return try list.enumerated().map { index, item in
            let at = "\(field)[\(index)]"
            guard case .object(let call) = item else { throw APIError.invalid(field: at, "must be a tool call (an object)") }
            guard case .string(let id)? = call["id"], !id.isEmpty else { throw APIError.invalid(field: at + ".id", "must be the call's id (a non-empty string)") }
            let function = call["function"]?.objectValue
            guard case .string(let name)? = function?["name"] ?? call["name"], !name.isEmpty else {
                throw APIError.invalid(field: at + (function == nil ? ".name" : ".function.name"), "must be the tool's name (a non-empty string)")
            }
            let arguments: String
            switch function.map({ $0["arguments"] }) ?? call["args"] {
            case nil, .null?: arguments = "{}"
            case .object(let fields)? where function == nil: arguments = String(decoding: encodeJSON(JSONValue.object(fields)), as: UTF8.self)
            case .string(let text)? where function != nil: arguments = text
            default:
                throw APIError.invalid(field: at + (function == nil ? ".args" : ".function.arguments"),
                                       function == nil ? "must be an object of arguments" : "must be the arguments as JSON text")
            }
            return ToolCall(id: id, name: name, arguments: arguments)
        }
    }
}
