import AgentRuntime
import Foundation
import Runs
import Store

/// The OpenAI API over the same runs: models are agents, chat completions are stateless runs, responses are stored
/// runs (background ones on the durable queue, resumable from any worker), conversations are threads.
struct OpenAIEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine
    var store: StoreReader { engine.reader }

    func register(in router: inout Router) {
        router.add(Route("GET", "/v1/models", operationID: "openai_models_list", access: .scope("agents:read"),
                         summary: "The agents and the caller's assistants, as OpenAI models", doc: .openAIModels, handler: .async { _, context in
            let all = try await AgentResolver(catalog: dependencies.catalog, reader: engine.reader).all(tenant: context.tenant)
            return .json(encodeJSON(ModelList(data: all.map { Model(id: $0.id) })))
        }))
        router.add(Route("GET", "/v1/models/{model}", operationID: "openai_model_get", access: .scope("agents:read"),
                         summary: "An agent or assistant, as an OpenAI model", doc: .openAIModel, handler: .async { _, context in
            let id = context.parameters["model"] ?? ""
            guard try await AgentResolver(catalog: dependencies.catalog, reader: engine.reader).resolve(id, tenant: context.tenant) != nil else {
                throw APIError(status: 404, code: "model_not_found", detail: "The model '\(id.prefix(100))' does not exist.", field: "model")
            }
            return .json(encodeJSON(Model(id: id)))
        }))
        router.add(Route("POST", "/v1/chat/completions", operationID: "openai_chat_completion", access: .scope("runs:write"),
                         summary: "Run an agent as an OpenAI chat completion (stream: chat.completion.chunk)", doc: .openAIChat,
                         handler: .async { request, context in try await chatCompletion(request, context) }))
        router.add(Route("POST", "/v1/responses", operationID: "openai_response_create", access: .scope("runs:write"),
                         summary: "Run an agent as an OpenAI response (stored, background, streamed)", doc: .openAIResponseCreate,
                         handler: .async { request, context in try await createResponse(request, context) }))
        router.add(Route("GET", "/v1/responses/{response_id}", operationID: "openai_response_get", access: .scope("runs:read"),
                         summary: "A response; stream=true replays its events (starting_after resumes)", doc: .openAIResponseGet,
                         handler: .async { request, context in try await getResponse(request, context) }))
        router.add(Route("DELETE", "/v1/responses/{response_id}", operationID: "openai_response_delete", access: .scope("runs:write"),
                         summary: "Delete a finished response", doc: .openAIResponseDelete,
                         handler: .async { _, context in try await deleteResponse(context) }))
        router.add(Route("POST", "/v1/responses/{response_id}/cancel", operationID: "openai_response_cancel", access: .scope("runs:write"),
                         summary: "Cancel a background response", doc: .openAIResponseCancel,
                         handler: .async { _, context in try await cancelResponse(context) }))
        router.add(Route("GET", "/v1/responses/{response_id}/input_items", operationID: "openai_response_input_items", access: .scope("runs:read"),
                         summary: "The input items of a response", doc: .openAIInputItems,
                         handler: .async { request, context in try await inputItems(request, context) }))
        registerConversations(in: &router)
    }

    struct Model: Encodable {
        var id: String
        var object = "model"
        var created = 0
        var owned_by = "agentfcgi"
    }

    struct ModelList: Encodable {
        var object = "list"
        var data: [Model]
    }

    struct Page<Item: Encodable>: Encodable {
        var object = "list"
        var data: [Item]
        var first_id: String?
        var last_id: String?
        var has_more: Bool

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(object, forKey: .object)
            try container.encode(data, forKey: .data)
            try container.encode(first_id, forKey: .first_id)
            try container.encode(last_id, forKey: .last_id)
            try container.encode(has_more, forKey: .has_more)
        }

        enum CodingKeys: String, CodingKey { case object, data, first_id, last_id, has_more }
    }

    /// OpenAI's list pages: `order` (asc or desc, default desc), `limit` (1-100, default 20), `after` (an item id).
    func listPage<Item: Encodable>(_ items: [Item], _ request: Request, id: KeyPath<Item, String>) throws -> Response {
        let query = request.queryItems
        let order = query["order"] ?? "desc"
        guard ["asc", "desc"].contains(order) else { throw APIError.invalid(field: "order", "must be asc or desc") }
        var limit = 20
        if let text = query["limit"], !text.isEmpty {
            guard let value = Int(text), (1...100).contains(value) else { throw APIError.invalid(field: "limit", "must be between 1 and 100") }
            limit = value
        }
        var ordered = order == "asc" ? items : items.reversed()
        if let after = query["after"], !after.isEmpty {
            guard let index = ordered.firstIndex(where: { $0[keyPath: id] == after }) else {
                throw APIError.invalid(field: "after", "no item with id '\(after.prefix(100))'")
            }
            ordered = Array(ordered[(index + 1)...])
        }
        let page = Array(ordered.prefix(limit))
        return .json(encodeJSON(Page(data: page, first_id: page.first?[keyPath: id], last_id: page.last?[keyPath: id],
                                     has_more: ordered.count > limit)))
    }
}
