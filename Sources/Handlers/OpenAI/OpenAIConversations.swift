import HTTPTypes
import AgentRuntime
import Foundation
import Runs
import Store

/// Conversations are threads: one created here shows under `/threads` too, and a thread is a conversation.
extension OpenAIEndpoints {
    struct Conversation: Encodable {
        var id: String
        var object = "conversation"
        var created_at: Int
        var metadata: JSONValue

        init(_ thread: ThreadRecord) {
            id = Tenancy.publicID(thread.id)
            created_at = Int(thread.createdAt.timeIntervalSince1970)
            metadata = ThreadWire.object(thread.metadata)
        }
    }

    struct ConversationBody: Decodable {
        var items: ResponseInput?
        var metadata: [String: String]?
    }

    func registerConversations(in router: inout Router) {
        router.add(Route("POST", "/v1/conversations", operationID: "openai_conversation_create", access: .scope("threads:write"),
                         summary: "Create a conversation (a thread), with items", doc: .openAIConversationCreate, handler: .async { request, context in
            try await Idempotency(engine: engine).perform(request, context) { try await createConversation(request, context) }
        }))
        router.add(Route("GET", "/v1/conversations/{conversation_id}", operationID: "openai_conversation_get", access: .scope("threads:read"),
                         summary: "A conversation", doc: .openAIConversation, handler: .async { _, context in
            .json(encodeJSON(Conversation(try await conversationThread(context))))
        }))
        router.add(Route("POST", "/v1/conversations/{conversation_id}", operationID: "openai_conversation_update", access: .scope("threads:write"),
                         summary: "Set keys of a conversation's metadata", doc: .openAIConversationUpdate, handler: .async { request, context in
            let thread = try await conversationThread(context)
            let body = try request.decodeJSON(ConversationBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
            guard let metadata = body.metadata else { throw APIError.invalid(field: "metadata", "is required") }
            try Self.checkMetadata(metadata)
            let updated = try await engine.updateThread(thread.id, metadata: String(decoding: encodeJSON(metadata), as: UTF8.self), ttl: nil)
            return .json(encodeJSON(Conversation(updated)))
        }))
        router.add(Route("DELETE", "/v1/conversations/{conversation_id}", operationID: "openai_conversation_delete", access: .scope("threads:write"),
                         summary: "Delete a conversation with its items and responses", doc: .openAIConversationDelete, handler: .async { _, context in
            let thread = try await conversationThread(context)
            // A response still running on it would lose its record and its webhook: cancel it first.
            let running = try await store.runs(thread: thread.id, limit: 1, offset: 0, status: .running).first
            let pending = try await store.runs(thread: thread.id, limit: 1, offset: 0, status: .pending).first
            if let active = running ?? pending {
                throw APIError(status: 409, code: "conversation_busy",
                               detail: "Response '\(ResponsesWire.responseID(active.id))' is still running on this conversation; cancel it first.",
                               headers: [.xShouldRetry: "false"])
            }
            _ = try await engine.deleteThread(thread.id)
            struct Deleted: Encodable { var id: String; var object = "conversation.deleted"; var deleted = true }
            return .json(encodeJSON(Deleted(id: Tenancy.publicID(thread.id))))
        }))
        router.add(Route("GET", "/v1/conversations/{conversation_id}/items", operationID: "openai_conversation_items", access: .scope("threads:read"),
                         summary: "A conversation's items", doc: .openAIConversationItems, handler: .async { request, context in
            let thread = try await conversationThread(context)
            return try listPage(try await items(of: thread), request, id: \.id)
        }))
        router.add(Route("POST", "/v1/conversations/{conversation_id}/items", operationID: "openai_conversation_items_add", access: .scope("threads:write"),
                         summary: "Add items to a conversation", doc: .openAIConversationItemsAdd, handler: .async { request, context in
            let thread = try await conversationThread(context)
            let body = try request.decodeJSON(ConversationBody.self, maxStringBytes: JSONLimits.maxMediaStringBytes)
            guard let input = body.items else { throw APIError.invalid(field: "items", "is required") }
            let messages = try input.messages(makeID: dependencies.makeID)
            guard !messages.isEmpty else { throw APIError.invalid(field: "items", "must not be empty") }
            try Self.checkItems(messages)
            _ = try await engine.addMessages(thread: thread.id, messages)
            let added = Self.items(messages)
            return .json(encodeJSON(Page(data: added, first_id: added.first?.id, last_id: added.last?.id, has_more: false)))
        }))
        router.add(Route("GET", "/v1/conversations/{conversation_id}/items/{item_id}", operationID: "openai_conversation_item_get",
                         access: .scope("threads:read"), summary: "One item of a conversation", doc: .openAIConversationItem, handler: .async { _, context in
            let thread = try await conversationThread(context)
            let id = context.parameters["item_id"] ?? ""
            guard let item = try await items(of: thread).first(where: { $0.id == id }) else { throw Self.itemNotFound(id) }
            return .json(encodeJSON(item))
        }))
        router.add(Route("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", operationID: "openai_conversation_item_delete",
                         access: .scope("threads:write"), summary: "Remove a message item from a conversation", doc: .openAIConversationItemDelete,
                         handler: .async { _, context in
            let thread = try await conversationThread(context)
            let id = context.parameters["item_id"] ?? ""
            guard id.hasPrefix("msg_") else {
                throw APIError.invalid(field: "item_id", "only message items are removed; a tool call goes with the message that asked for it")
            }
            guard try await engine.removeMessage(thread: thread.id, messageID: String(id.dropFirst(4))) else { throw Self.itemNotFound(id) }
            return .json(encodeJSON(Conversation(try await store.thread(thread.id) ?? thread)))
        }))
    }

    static func itemNotFound(_ id: String) -> APIError {
        APIError(status: 404, code: "item_not_found", detail: "No item with id '\(id.prefix(100))' in this conversation.", field: "item_id")
    }

    /// Items written at once: at most 20, and the text a run's input may have.
    static func checkItems(_ messages: [ChatMessage]) throws {
        guard messages.count <= 20 else { throw APIError.invalid(field: "items", "at most 20 items may be added at once") }
        let characters = messages.reduce(0) { $0 + $1.content.count + $1.toolCalls.reduce(0) { $0 + $1.arguments.count } }
        guard characters <= 200_000 else {
            throw APIError(status: 413, code: "input_too_large", detail: "items: \(characters) characters; at most 200000 may be added at once.",
                           field: "items")
        }
    }

    static func checkMetadata(_ metadata: [String: String]) throws {
        guard metadata.count <= 16 else { throw APIError.invalid(field: "metadata", "has more than 16 keys") }
        for (key, value) in metadata where key.count > 64 || value.count > 512 {
            throw APIError.invalid(field: "metadata.\(key.prefix(64))", "keys are at most 64 characters and values 512")
        }
    }

    func createConversation(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(ConversationBody.self, allowEmpty: true, maxStringBytes: JSONLimits.maxMediaStringBytes)
        try Self.checkMetadata(body.metadata ?? [:])
        let messages = try body.items?.messages(makeID: dependencies.makeID) ?? []
        try Self.checkItems(messages)
        let id = "conv_" + dependencies.makeID().replacingOccurrences(of: "-", with: "")
        let thread = try await engine.createThread(NewThread(id: context.threadKey(id), metadata: String(decoding: encodeJSON(body.metadata ?? [:]), as: UTF8.self),
                                                             tenant: context.tenant), ifExists: .raise)
        if !messages.isEmpty { _ = try await engine.addMessages(thread: thread.id, messages) }
        return .json(encodeJSON(Conversation(thread)))
    }

    func conversationThread(_ context: RequestContext) async throws -> ThreadRecord {
        let id = try ownedThread(context.parameters["conversation_id"] ?? "", context, field: "conversation_id")
        guard let thread = try await store.thread(id) else {
            throw APIError(status: 404, code: "conversation_not_found",
                           detail: "No conversation with id '\(Tenancy.publicID(id).prefix(100))'.", field: "conversation_id")
        }
        return thread
    }

    func items(of thread: ThreadRecord) async throws -> [ResponsesWire.Item] {
        Self.items(try await store.messages(thread: thread.id, limit: nil).compactMap { try? StoredMessage.decode($0.body) })
    }

    /// A thread's messages as conversation items, oldest first: what people said as input messages, the agent's
    /// answers as output messages, its tool calls (with their results) as `mcp_call` items.
    static func items(_ messages: [ChatMessage]) -> [ResponsesWire.Item] {
        var items: [ResponsesWire.Item] = []
        var index = 0
        while index < messages.count {
            let message = messages[index]
            switch message.role {
            case .user, .system:
                items.append(.input(id: ResponsesWire.messageItemID(message.id), role: message.role == .user ? "user" : "system", text: message.content))
                index += 1
            case .assistant, .tool:
                var group = [message]
                index += 1
                while index < messages.count, messages[index].role == .tool {
                    group.append(messages[index])
                    index += 1
                }
                items += ResponsesWire.items(group)
            }
        }
        return items
    }
}
