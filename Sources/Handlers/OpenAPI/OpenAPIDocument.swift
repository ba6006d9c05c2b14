import AgentRuntime
import Foundation

/// The OpenAPI 3.1 document, built from the route table: paths, methods, operation ids and summaries, and the
/// documentation each route carries (bodies, parameters, responses; the entries below). A route without
/// documentation fails the spec tests.
public enum OpenAPIDocument {
    enum Body: Sendable {
        case json(String)
        case optionalJSON(String)
    }

    enum Content: Sendable {
        case json(String)
        case jsonArray(String)
        case eventStream
        /// The thread stream (`langchain-protocol`): `event` is the envelope's method, `data` the envelope.
        case threadStream
        /// OpenAI's streams: `data:` frames (chat completions, ending `[DONE]`) or named `response.*` events.
        case openAIStream(String)
        /// A JSON body, or with `stream` asked for, OpenAI's stream.
        case jsonOrOpenAIStream(String, stream: String)
        /// Prometheus' text exposition format.
        case prometheusText
        case empty
    }

    struct Parameter: Sendable {
        var name: String
        var location: String
        var schema: JSONValue
        var description: String
        var required = false
    }

    struct Operation: Sendable {
        var tag: String
        var description: String?
        var body: Body?
        var parameters: [Parameter] = []
        var responses: [(Int, String, Content)]
        /// Problems this operation can answer with, besides 429 and 500 which all can.
        var problems: [Int]
    }

    static let idempotencyKey = Parameter(name: "Idempotency-Key", location: "header", schema: ["type": "string", "pattern": "^[ -~]{1,255}$"],
                                          description: "Repeat a request safely: the same key and body get the first answer; kept 24 h.")
    static let limit = Parameter(name: "limit", location: "query", schema: ["type": "integer", "minimum": 1, "maximum": 1000, "default": 10], description: "Page size.")
    static let offset = Parameter(name: "offset", location: "query", schema: ["type": "integer", "minimum": 0, "default": 0], description: "Items to skip.")
    static let bodyProblems = [400, 413, 415, 422]

    static func runOperations(stream: Bool, thread: Bool) -> Operation {
        Operation(
            tag: thread ? "runs" : "stateless runs",
            description: stream
                ? "Server-Sent Events: `metadata` first (run id), then the frames of the requested stream modes, then `end`. Every frame has `id:`; on a thread the ids number the frames rendered from the run's event log, so `Last-Event-ID` resumes through any worker (see `Location`)."
                : nil,
            body: .json(thread ? "RunCreate" : "RunCreateStateless"),
            parameters: thread ? [idempotencyKey] : [],
            responses: [(200, stream ? "The run's events" : "The final state", stream ? .eventStream : .json("Values"))],
            problems: bodyProblems + [404] + (thread ? [409] : []) + [502, 504])
    }

    static func runRead(_ summary: String, _ content: Content, problems: [Int] = [404], parameters: [Parameter] = [],
                        extra: [(Int, String, Content)] = [], description: String? = nil) -> Operation {
        Operation(tag: "runs", description: description, body: nil, parameters: parameters,
                  responses: [(200, summary, content)] + extra, problems: problems)
    }

    /// Operation ids of routes that carry no documentation.
    public static func undocumented(_ routes: [Route]) -> [String] {
        routes.filter { $0.doc == nil }.map(\.operationID).sorted()
    }

    public static func make(routes: [Route], catalog: AgentCatalog, version: String) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for route in routes {
            guard let operation = route.doc else { continue }
            paths[route.path, default: [:]][route.method.lowercased()] = render(route, operation)
        }
        var schemas = APISchemas.components.objectValue ?? [:]
        schemas.merge(ThreadStreamSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(MCPSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(BulkSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(AssistantSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(CronSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(StoreSchemas.components.objectValue ?? [:]) { first, _ in first }
        schemas.merge(RequestRules.components.objectValue ?? [:]) { first, _ in first }
        RunSchemas.complete(&schemas, catalog: catalog)
        AssistantSchemas.complete(&schemas, catalog: catalog)
        // The rules every request body meets, on every schema a request body refers to.
        for name in RequestRules.requestComponents(paths: paths, schemas: schemas) {
            guard var schema = schemas[name], name != "JSONValue" else { continue }
            // JSON-RPC gives `null` meanings of its own.
            if name != "MCPMessage" { schema = RequestRules.nullableOptionals(schema, strict: RunSchemas.strictNulls[name] ?? []) }
            schemas[name] = RequestRules.applied(schema)
        }
        return [
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": [
                "title": "agentfcgi",
                "version": .string(version),
                "description": "LLM agents as an HTTPS API, in the shape of LangGraph Server and Agent Protocol, and of the OpenAI API under /v1. Errors are RFC 9457 problem+json, and OpenAI's error object under /v1. Generated by `agentfcgi openapi` from the route table.",
                "license": ["name": "See the repository"],
            ],
            "servers": [["url": "/"]],
            "tags": .array(["meta", "agents", "stateless runs", "threads", "runs", "crons", "store", "openai"].map { ["name": .string($0)] }),
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "schemas": .object(schemas),
                "responses": .object(problemResponses),
                "securitySchemes": [
                    "ApiKeyHeader": ["type": "apiKey", "in": "header", "name": "X-Api-Key",
                                     "description": "afk_... keys from `agentfcgi keys create`; scopes: agents:read, assistants:write, threads:read, threads:write, runs:read, runs:write, store:read, store:write, admin."],
                    "BearerKey": ["type": "http", "scheme": "bearer", "description": "The API key as a bearer token."],
                ],
            ],
        ]
    }

    static func nullable(_ schema: JSONValue) -> JSONValue {
        // A free value is any JSON value, null included (it becomes `JSONValue`).
        guard case .object(var object) = schema, !RequestRules.isFree(schema) else { return schema }
        let null: JSONValue = ["type": "null"]
        if case .array(let members)? = object["anyOf"] ?? object["oneOf"], members.contains(null) { return schema }
        switch object["type"] {
        case .string("null")?:
            return schema
        case .array(let types)? where types.contains(.null) || types.contains("null"):
            return schema
        case .string(let type)?:
            object["type"] = [.string(type), "null"]
            if case .array(let values)? = object["enum"] { object["enum"] = .array(values + [.null]) }
            return .object(object)
        case .array(let types)?:
            object["type"] = .array(types + ["null"])
            return .object(object)
        default:
            return ["anyOf": [schema, ["type": "null"]]]
        }
    }

    static let problemDescriptions: [Int: String] = [
        400: "Malformed JSON or invalid UTF-8", 414: "Path or query too long", 401: "No API key, or not a valid one (see WWW-Authenticate)",
        403: "The API key lacks the operation's scope", 404: "Not found", 409: "Conflict: a busy thread, an existing id, a key in use",
        413: "Body too large", 415: "Not application/json", 422: "A field is invalid (see `field`)",
        429: "Rate limited, or a key's concurrent runs or daily token budget spent (see code and Retry-After)", 500: "Internal error: quote the request id", 502: "The model server failed",
        504: "The model server or the run timed out",
    ]

    static var problemResponses: [String: JSONValue] {
        var responses: [String: JSONValue] = [:]
        for (status, description) in problemDescriptions {
            responses["Problem\(status)"] = [
                "description": .string(description),
                "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]],
            ]
            // Under /v1 the same failures in OpenAI's shape; a 422 there is a 400.
            guard status != 422 else { continue }
            responses["OpenAIError\(status)"] = [
                "description": .string(status == 400 ? "Invalid request: malformed JSON or a field (see `error.param`)" : description),
                "content": ["application/json": ["schema": ["$ref": "#/components/schemas/OpenAIError"]]],
            ]
        }
        return responses
    }

    static func render(_ route: Route, _ operation: Operation) -> JSONValue {
        var object: [String: JSONValue] = [
            "operationId": .string(route.operationID),
            "summary": .string(route.summary),
            "tags": [.string(operation.tag)],
        ]
        var description = operation.description ?? ""
        switch route.access {
        case .open: break
        case .scope(let scope):
            object["security"] = [["ApiKeyHeader": []], ["BearerKey": []]]
            description += (description.isEmpty ? "" : "\n\n") + "Needs an API key with the scope `\(scope)` (or `admin`)."
        case .perOperation(let which):
            object["security"] = [["ApiKeyHeader": []], ["BearerKey": []]]
            description += (description.isEmpty ? "" : "\n\n") + "Needs an API key: \(which)"
        }
        if !description.isEmpty { object["description"] = .string(description) }
        var parameters: [JSONValue] = route.segments.compactMap { segment in
            guard case .parameter(let name) = segment else { return nil }
            return ["name": .string(name), "in": "path", "required": true,
                    "schema": RequestRules.pathParameter(name, path: route.path, method: route.method)]
        }
        parameters += operation.parameters.map { parameter in
            var value: [String: JSONValue] = ["name": .string(parameter.name), "in": .string(parameter.location),
                                              "schema": parameter.schema, "description": .string(parameter.description)]
            if parameter.required { value["required"] = true }
            if parameter.location == "query", case .object(let schema) = parameter.schema, schema["type"] == "array" {
                value["style"] = "form"
                value["explode"] = true
            }
            return .object(value)
        }
        if !parameters.isEmpty { object["parameters"] = .array(parameters) }
        if let body = operation.body {
            let (name, required): (String, Bool) = switch body {
            case .json(let name): (name, true)
            case .optionalJSON(let name): (name, false)
            }
            object["requestBody"] = ["required": .bool(required),
                                     "content": ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(name)")]]]]
        }
        var responses: [String: JSONValue] = [:]
        for (status, description, content) in operation.responses {
            var response: [String: JSONValue] = ["description": .string(description)]
            switch content {
            case .json(let name):
                response["content"] = ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(name)")]]]
            case .jsonArray(let name):
                response["content"] = ["application/json": ["schema": ["type": "array", "items": ["$ref": .string("#/components/schemas/\(name)")]]]]
            case .eventStream:
                // One frame: its `id` (the event's number), `event` name and JSON `data`; `: ping` comments while silent.
                response["content"] = ["text/event-stream": ["schema": [
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": [
                        "id": ["type": "string", "pattern": "^[0-9]+$"],
                        "event": ["type": "string", "enum": ["metadata", "values", "messages", "messages/partial", "messages/complete",
                                                             "messages/metadata", "updates", "custom", "events", "tasks", "checkpoints",
                                                             "debug", "error", "end"]],
                        "data": ["type": "string", "description": "JSON"],
                    ],
                ]]]
            case .prometheusText:
                response["content"] = ["text/plain": ["schema": ["type": "string", "description": "Prometheus text format 0.0.4"]]]
            case .threadStream:
                response["content"] = ["text/event-stream": ["schema": [
                    "type": "object",
                    "required": ["id", "event", "data"],
                    "properties": [
                        "id": ["type": "string", "pattern": "^[0-9]+$", "description": "The event's seq (resume with since)."],
                        "event": ["type": "string", "enum": ["lifecycle", "input.requested", "messages", "values", "updates", "tools", "tasks",
                                                             "checkpoints", "custom"]],
                        "data": ["type": "string", "description": "JSON: {type: event, event_id, seq, method, params: {namespace, timestamp, data, node?}}"],
                    ],
                ]]]
            case .openAIStream(let description):
                response["content"] = ["text/event-stream": ["schema": openAIStreamFrame(description)]]
            case .jsonOrOpenAIStream(let name, let description):
                response["content"] = ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(name)")]],
                                       "text/event-stream": ["schema": openAIStreamFrame(description)]]
            case .empty:
                break
            }
            if route.path.hasSuffix("/runs/stream") || route.path.hasSuffix("{run_id}/stream") {
                response["headers"] = [
                    "Location": ["description": "Where to resume this stream (GET with Last-Event-ID).", "schema": ["type": "string"]],
                    "Content-Location": ["description": "The run.", "schema": ["type": "string"]],
                ]
            }
            responses[String(status)] = .object(response)
        }
        let authProblems = route.access == .open ? [] : [401, 403]
        // An id in the path that cannot be one (too long, a slash, a space) is a 422 naming the parameter.
        let pathProblems = route.path.contains("{") ? [414, 422] : []
        let openAI = OpenAIError.isOpenAIPath(route.path)
        for status in Set((operation.problems + authProblems + pathProblems + [429, 500]).map { openAI && $0 == 422 ? 400 : $0 }).sorted() {
            responses[String(status)] = ["$ref": .string("#/components/responses/\(openAI ? "OpenAIError" : "Problem")\(status)")]
        }
        object["responses"] = .object(responses)
        return .object(object)
    }

    static func openAIStreamFrame(_ description: String) -> JSONValue {
        ["type": "object", "required": ["data"], "description": .string(description),
         "properties": ["event": ["type": "string"], "data": ["type": "string", "description": "JSON, or [DONE]"]]]
    }

    /// Pretty, key-sorted JSON: what `agentfcgi openapi` prints and `deploy/openapi.json` holds.
    public static func encoded(_ document: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let text = String(decoding: (try? encoder.encode(document)) ?? Data(), as: UTF8.self)
        return Array(RequestRules.exactInt64Bounds(text).utf8) + [UInt8(ascii: "\n")]
    }
}

extension OpenAPIDocument.Operation {
    /// The documentation each route carries (`Route.doc`), by role.
    static let health = OpenAPIDocument.Operation(tag: "meta", body: nil, responses: [(200, "Up", .json("Health"))], problems: [])
    static let metrics = OpenAPIDocument.Operation(
        tag: "meta",
        description: "Every live worker's series of this host, each with its `worker` label (docs/operations.md). nginx answers it only for the addresses in `METRICS_ALLOW`.",
        body: nil, responses: [(200, "Prometheus text", .prometheusText)], problems: [404])
    static let info = OpenAPIDocument.Operation(tag: "meta", body: nil, responses: [(200, "Name, version, features", .json("Info"))], problems: [])
    static let listAgentTools = OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "The agent's tools", .jsonArray("Tool"))], problems: [404])
    static let invokeAgentTool = OpenAPIDocument.Operation(tag: "agents", description: "Arguments are checked against the tool's JSON Schema; a tool error is a 422 `tool_error`.",
                                           body: .json("ToolInvoke"), responses: [(200, "The tool's answer", .json("ToolResult"))],
                                           problems: OpenAPIDocument.bodyProblems + [404, 504])
    static let runWait = OpenAPIDocument.runOperations(stream: false, thread: false)
    static let runStream = OpenAPIDocument.runOperations(stream: true, thread: false)
    static let threadCreate = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadCreate"), parameters: [OpenAPIDocument.idempotencyKey],
                                       responses: [(200, "The thread", .json("Thread"))], problems: OpenAPIDocument.bodyProblems + [409])
    static let threadSearch = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadSearch"),
                                       responses: [(200, "Matching threads, newest first", .jsonArray("Thread"))], problems: OpenAPIDocument.bodyProblems)
    static let threadGet = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The thread with its values", .json("Thread"))], problems: [404])
    static let threadUpdate = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("ThreadUpdate"),
                                       parameters: [OpenAPIDocument.Parameter(name: "Prefer", location: "header", schema: ["type": "string"], description: "`return=minimal` answers 204.")],
                                       responses: [(200, "The thread", .json("Thread")), (204, "Updated (Prefer: return=minimal)", .empty)],
                                       problems: OpenAPIDocument.bodyProblems + [404])
    static let threadDelete = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(204, "Deleted, with its runs and events", .empty)], problems: [404])
    static let threadState = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The state after the last run", .json("ThreadState"))], problems: [404])
    static let threadStateAt = OpenAPIDocument.Operation(tag: "threads", body: nil, responses: [(200, "The state at the checkpoint", .json("ThreadState"))], problems: [404])
    static let threadHistoryGet = OpenAPIDocument.Operation(tag: "threads", body: nil,
                                            parameters: [OpenAPIDocument.limit, OpenAPIDocument.Parameter(name: "before", location: "query", schema: ["type": "string"], description: "A checkpoint id.")],
                                            responses: [(200, "States, newest first", .jsonArray("ThreadState"))], problems: [404, 422])
    static let threadHistory = OpenAPIDocument.Operation(tag: "threads", body: .optionalJSON("HistoryRequest"),
                                        responses: [(200, "States, newest first", .jsonArray("ThreadState"))], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadRunStream = OpenAPIDocument.runOperations(stream: true, thread: true)
    static let threadRunWait = OpenAPIDocument.runOperations(stream: false, thread: true)
    static let threadRunCreate = OpenAPIDocument.Operation(tag: "runs", description: "Stored as pending and answered at once; an executor on any worker runs it.",
                                           body: .json("RunCreate"), parameters: [OpenAPIDocument.idempotencyKey],
                                           responses: [(200, "The queued run", .json("Run"))], problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let runCreate = OpenAPIDocument.Operation(tag: "runs", description: "A background run on a new thread of its own.",
                                    body: .json("RunCreateUnthreaded"), parameters: [OpenAPIDocument.idempotencyKey],
                                    responses: [(200, "The queued run", .json("Run"))], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadRunList = OpenAPIDocument.Operation(tag: "runs", body: nil,
                                         parameters: [OpenAPIDocument.limit, OpenAPIDocument.offset, OpenAPIDocument.Parameter(name: "status", location: "query",
                                                                               schema: ["type": "string", "enum": ["pending", "running", "success", "error", "timeout", "interrupted"]],
                                                                               description: "Only runs in this status.")],
                                         responses: [(200, "Runs, newest first", .jsonArray("Run"))], problems: [404, 422])
    static let runJoinWait = OpenAPIDocument.runRead("The thread's values once the run ended", .json("Values"))
    static let runGet = OpenAPIDocument.runRead("The run", .json("Run"))
    static let runDelete = OpenAPIDocument.Operation(tag: "runs", body: nil, responses: [(204, "Deleted", .empty)], problems: [404, 409])
    static let runCancel = OpenAPIDocument.Operation(
                tag: "runs", body: nil,
                parameters: [
                    OpenAPIDocument.Parameter(name: "action", location: "query", schema: ["type": "string", "enum": ["interrupt", "rollback", ""], "default": "interrupt"],
                              description: "interrupt keeps partial output; rollback undoes the run (empty: interrupt)."),
                    OpenAPIDocument.Parameter(name: "wait", location: "query", schema: ["type": "string", "enum": ["0", "1", "true", "false", ""], "default": "0"],
                              description: "1: answer once the run has stopped (empty: 0)."),
                ],
                responses: [(200, "Stopped (wait=1)", .json("Run")), (202, "Asked to stop", .json("Run")), (204, "Rolled back and gone", .empty)],
                problems: [404, 422])
    static let runJoin = OpenAPIDocument.runRead("The thread's values once the run ended", .json("Values"))
    static let runWebhooks = OpenAPIDocument.runRead("Webhook deliveries with every attempt", .jsonArray("WebhookDelivery"))
    static let runJoinStream = OpenAPIDocument.runRead(
                "The run's events", .eventStream, problems: [404, 422],
                parameters: [
                    OpenAPIDocument.Parameter(name: "Last-Event-ID", location: "header", schema: ["type": "string", "pattern": "^[ \\t]*(-1|-|[0-9]{0,18})[ \\t]*$"],
                              description: "Resume after this frame (blank or -1: from the start)."),
                    OpenAPIDocument.Parameter(name: "last_event_id", location: "query", schema: ["type": "string", "pattern": "^[ \\t]*(-1|-|[0-9]{0,18})[ \\t]*$"],
                              description: "The same, for clients that cannot set headers (given once; the header wins)."),
                    OpenAPIDocument.Parameter(name: "stream_mode", location: "query", schema: ["type": "array", "items": ["$ref": "#/components/schemas/StreamMode"]],
                              description: "These modes (repeat the parameter), whatever the run was created with; empty: the modes it was created with."),
                    OpenAPIDocument.Parameter(name: "cancel_on_disconnect", location: "query", schema: ["type": "string", "enum": ["true", "false"]],
                              description: "true: leaving cancels the run."),
                ],
                description: "The run's events from its log in the requested stream modes, after `Last-Event-ID`, then the live tail until `end`, from whichever worker answers.")
    static func agentSearch(_ kind: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: .optionalJSON("AgentSearch"), responses: [(200, "Matching \(kind)", .jsonArray("Agent"))], problems: OpenAPIDocument.bodyProblems)
    }
    static func agentGet(_ one: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "The \(one)", .json("Agent"))], problems: [404])
    }
    static func agentSchemas(_ one: String) -> OpenAPIDocument.Operation {
        OpenAPIDocument.Operation(tag: "agents", body: nil, responses: [(200, "Input, output, state and config schemas", .json("AgentSchemas"))], problems: [404])
    }

    static let openAIModels = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "Every agent as a model", .json("OpenAIModelList"))], problems: [])
    static let openAIModel = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "The model", .json("OpenAIModel"))], problems: [404])
    static let openAIChat = OpenAPIDocument.Operation(
        tag: "openai",
        description: "`model` is an agent id. Messages of every role; content as a string or text parts. `stream: true` sends `chat.completion.chunk` frames and `data: [DONE]`; `stream_options.include_usage` adds a usage chunk with empty `choices`. `temperature` and `max_tokens`/`max_completion_tokens` reach the agent's model (never above its own cap); other OpenAI parameters are accepted and ignored; `n` above 1 is a 400. The agent's tools run on the server. Stateless: nothing is kept.",
        body: .json("ChatCompletionRequest"),
        responses: [(200, "The completion, or its chunks (stream: true)", .json("ChatCompletion"))],
        problems: [400, 404, 413, 415, 502, 504])
    static let openAIResponseCreate = OpenAPIDocument.Operation(
        tag: "openai",
        description: "`model` is an agent id; `input` a string or message items (and function_call / function_call_output items). Stored by default, on a conversation (`conversation`, a thread id) or continuing `previous_response_id`, else on a new conversation of its own. `background: true` queues it on the durable queue (any worker runs it) and answers at once. `stream: true` sends the Responses events, each with a `sequence_number` that is the same on every read; `GET /v1/responses/{id}?stream=true&starting_after=N` resumes on any worker. The agent's tools run on the server and show as `mcp_call` items; tools in the request are a 400. `Idempotency-Key` repeats the first answer.",
        body: .json("ResponseCreateRequest"), parameters: [OpenAPIDocument.idempotencyKey],
        responses: [(200, "The response, or its events (stream: true)", .jsonOrOpenAIStream("OpenAIResponse", stream: "Named response.* events, each with its sequence_number"))],
        problems: [400, 404, 409, 413, 415, 502, 504])
    static let openAIResponseGet = OpenAPIDocument.Operation(
        tag: "openai", body: nil,
        parameters: [
            OpenAPIDocument.Parameter(name: "stream", location: "query", schema: ["type": "string", "enum": ["true", "false"]],
                                      description: "true: the response's events from its log, then live."),
            OpenAPIDocument.Parameter(name: "starting_after", location: "query", schema: ["type": "integer", "minimum": -1],
                                      description: "With stream: only events after this sequence number."),
        ],
        responses: [(200, "The response, or its events (stream=true)", .jsonOrOpenAIStream("OpenAIResponse", stream: "Named response.* events, each with its sequence_number"))],
        problems: [400, 404])
    static let openAIResponseDelete = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "Deleted", .json("OpenAIDeleted"))],
                                                                problems: [404, 409])
    static let openAIResponseCancel = OpenAPIDocument.Operation(tag: "openai", description: "Background responses only.", body: nil,
                                                                responses: [(200, "The response, stopped", .json("OpenAIResponse"))], problems: [400, 404])
    static let openAIInputItems = OpenAPIDocument.Operation(
        tag: "openai", body: nil,
        parameters: [
            OpenAPIDocument.Parameter(name: "order", location: "query", schema: ["type": "string", "enum": ["asc", "desc"], "default": "desc"], description: "Oldest or newest first."),
            OpenAPIDocument.Parameter(name: "limit", location: "query", schema: ["type": "integer", "minimum": 1, "maximum": 100, "default": 20], description: "Page size."),
            OpenAPIDocument.Parameter(name: "after", location: "query", schema: ["type": "string"], description: "An item id: the page after it."),
        ],
        responses: [(200, "The input items", .json("OpenAIItemList"))], problems: [400, 404])
    static let openAIConversationCreate = OpenAPIDocument.Operation(
        tag: "openai", description: "A conversation is a thread (it shows under /threads too), with up to 20 first items.",
        body: .optionalJSON("ConversationRequest"), parameters: [OpenAPIDocument.idempotencyKey],
        responses: [(200, "The conversation", .json("OpenAIConversation"))], problems: [400, 409, 413, 415])
    static let openAIConversation = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "The conversation", .json("OpenAIConversation"))],
                                                              problems: [404])
    static let openAIConversationUpdate = OpenAPIDocument.Operation(tag: "openai", body: .json("ConversationUpdate"),
                                                                    responses: [(200, "The conversation", .json("OpenAIConversation"))],
                                                                    problems: [400, 404, 413, 415])
    static let openAIConversationDelete = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "Deleted", .json("OpenAIDeleted"))],
                                                                    problems: [404])
    static let openAIConversationItems = OpenAPIDocument.Operation(
        tag: "openai", body: nil, parameters: openAIInputItems.parameters,
        responses: [(200, "The items", .json("OpenAIItemList"))], problems: [400, 404])
    static let openAIConversationItemsAdd = OpenAPIDocument.Operation(
        tag: "openai", description: "Messages (and function_call / function_call_output items) added without running anything; a 409 while a response is running on the conversation.",
        body: .json("ConversationItemsAdd"), responses: [(200, "The items added", .json("OpenAIItemList"))], problems: [400, 404, 409, 413, 415])
    static let openAIConversationItem = OpenAPIDocument.Operation(tag: "openai", body: nil, responses: [(200, "The item", .json("OpenAIItem"))],
                                                                  problems: [404])
    static let openAIConversationItemDelete = OpenAPIDocument.Operation(
        tag: "openai", description: "Message items only; the conversation's earlier checkpoints give way to one of its new state.", body: nil,
        responses: [(200, "The conversation", .json("OpenAIConversation"))], problems: [400, 404, 409])
}
