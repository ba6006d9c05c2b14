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
            let sent: InputMessage
            do {
                sent = try JSONDecoder().decode(InputMessage.self, from: Data(encodeJSON(item)))
            } catch let error as DecodingError {
                let inner = error.fieldPath
                throw APIError.invalid(field: inner.isEmpty ? field : field + "." + inner, error.reason)
            }
            var message = ChatMessage(id: sent.id ?? makeID(), role: sent.role, content: sent.content, name: sent.name)
            message.images = sent.images
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
}
