import AgentRuntime

/// OpenAI's API under `/v1` (`Handlers/OpenAI`) and its bodies.
extension OpenAPIDocument.Operation {
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
        description: "`model` is an agent id; `input` a string or message items (and function_call / function_call_output items). Stored by default, on a conversation (`conversation`, a thread id) or continuing `previous_response_id`, else on a new conversation of its own. `background: true` queues it on the durable queue (any worker runs it) and answers at once. `stream: true` sends the Responses events, each with a `sequence_number` that is the same on every read; `GET /v1/responses/{id}?stream=true&starting_after=N` resumes on any worker. The agent's tools run on the server and show as `mcp_call` items; a call its configuration wants approved first ends a completed response with an `mcp_approval_request` item (server_label agentfcgi), answered by a response with `previous_response_id` and `mcp_approval_response` input items (one per request: approve, or not with a reason). Function tools in the request are the client's; an `mcp` tool with server_label agentfcgi declares the server's own (the Agents SDK's HostedMCPTool) and is never connected to; other tool types are a 400. `Idempotency-Key` repeats the first answer.",
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

enum OpenAISchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "OpenAIError": {
        "type": "object", "required": ["error"], "description": "OpenAI's error object, on /v1.",
        "properties": {"error": {"type": "object", "required": ["message", "type"],
          "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}
      },
      "OpenAIModel": {
        "type": "object", "required": ["id", "object", "created", "owned_by"],
        "properties": {"id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": {"type": "string"}}
      },
      "OpenAIModelList": {
        "type": "object", "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/OpenAIModel"}}}
      },
      "ChatMessageParam": {
        "type": "object", "required": ["role"],
        "allOf": [
          {"if": {"properties": {"role": {"enum": ["user", "system", "developer"]}}}, "then": {"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}}},
          {"if": {"properties": {"role": {"const": "assistant"}}},
           "then": {"anyOf": [{"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}},
                              {"required": ["tool_calls"], "properties": {"tool_calls": {"type": "array", "minItems": 1}}}]}},
          {"if": {"properties": {"role": {"const": "tool"}}}, "then": {"required": ["tool_call_id"], "properties": {"tool_call_id": {"type": "string", "minLength": 1}}}}
        ],
        "properties": {
          "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
          "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "required": ["type", "text"],
                                 "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}, {"type": "null"}]},
          "name": {"type": "string"},
          "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "function"], "properties": {
            "id": {"type": "string"}, "type": {"const": "function"},
            "function": {"type": "object", "required": ["name", "arguments"], "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}}}}}},
          "tool_call_id": {"type": "string"}
        }
      },
      "ChatCompletionRequest": {
        "type": "object", "required": ["model", "messages"],
        "properties": {
          "model": {"type": "string", "minLength": 1, "description": "An agent id."},
          "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ChatMessageParam"},
                       "contains": {"type": "object", "required": ["role"], "properties": {"role": {"const": "user"}}}, "description": "At least one user message."},
          "stream": {"type": "boolean"}, "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
          "n": {"type": "integer", "minimum": 1, "maximum": 1, "description": "Only 1 choice."}, "temperature": {"type": "number", "minimum": 0, "maximum": 2},
          "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1},
          "top_p": {"type": "number", "minimum": 0, "maximum": 1}, "seed": {"type": "integer"},
          "stop": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "array", "maxItems": 4, "items": {"type": "string", "minLength": 1, "maxLength": 256}}]},
          "response_format": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["text", "json_object", "json_schema"]}}},
          "metadata": {"type": "object", "description": "thread_id: keep the conversation on that thread.",
                       "properties": {"thread_id": {"type": "string", "pattern": "^[!-.0-\\[\\]-~]{1,128}$"}}},
          "tools": {"type": "array", "items": {"type": "object", "required": ["type", "function"], "properties": {"type": {"const": "function"},
            "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
              "description": {}, "parameters": {"type": "object"}}}}}}
        }
      },
      "ChatCompletion": {
        "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
          "id": {"type": "string"}, "object": {"const": "chat.completion"}, "created": {"type": "integer"}, "model": {"type": "string"},
          "choices": {"type": "array", "items": {"type": "object", "required": ["index", "message", "finish_reason"], "properties": {
            "index": {"type": "integer"}, "finish_reason": {"type": "string"},
            "message": {"type": "object", "required": ["role", "content"], "properties": {"role": {"const": "assistant"}, "content": {"type": ["string", "null"]}}}}}},
          "usage": {"$ref": "#/components/schemas/ChatUsage"}
        }
      },
      "ChatUsage": {
        "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
        "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}
      },
      "ResponseCreateRequest": {
        "type": "object", "required": ["model", "input"],
        "allOf": [
          {"not": {"required": ["previous_response_id", "store"], "properties": {"previous_response_id": {"type": "string"}, "store": {"const": false}}},
           "description": "A response that continues another is stored."},
          {"not": {"required": ["previous_response_id", "conversation"], "properties": {"previous_response_id": {"type": "string"}, "conversation": {"type": ["string", "object"]}}},
           "description": "previous_response_id or conversation, not both."}
        ],
        "properties": {
          "model": {"type": "string", "minLength": 1, "description": "An agent id."},
          "input": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ResponseInputItem"}}]},
          "instructions": {"type": "string"}, "previous_response_id": {"type": "string"},
          "conversation": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}]},
          "store": {"type": "boolean"}, "background": {"type": "boolean"}, "stream": {"type": "boolean"},
          "metadata": {"type": "object", "maxProperties": 16, "additionalProperties": {"type": "string"}},
          "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "max_output_tokens": {"type": "integer", "minimum": 1},
          "top_p": {"type": "number", "minimum": 0, "maximum": 1},
          "include": {"type": "array", "items": {"type": "string"}, "description": "agentfcgi.server_tool_calls_as_functions: the server's tool calls as function_call and function_call_output items."},
          "tools": {"type": "array", "items": {"type": "object", "required": ["type", "name"], "properties": {"type": {"const": "function"},
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "description": {"type": "string"}, "parameters": {"type": "object"}}}}
        }
      },
      "OpenAIResponse": {
        "type": "object", "required": ["id", "object", "created_at", "status", "model", "output"],
        "properties": {
          "id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "integer"},
          "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed", "incomplete", "cancelled"]},
          "background": {"type": "boolean"}, "model": {"type": "string"},
          "output": {"type": "array", "items": {"type": "object", "required": ["type", "id"], "properties": {
            "type": {"type": "string", "enum": ["message", "mcp_call", "function_call", "function_call_output", "mcp_approval_request"]}, "id": {"type": "string"}, "status": {"type": "string"}}}},
          "usage": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["input_tokens", "output_tokens", "total_tokens"], "properties": {
            "input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}}]},
          "error": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}]},
          "previous_response_id": {"type": ["string", "null"]}, "store": {"type": "boolean"}
        }
      },
      "OpenAIDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string"}, "deleted": {"type": "boolean"}}
      },
      "OpenAIConversation": {
        "type": "object", "required": ["id", "object", "created_at", "metadata"],
        "properties": {"id": {"type": "string"}, "object": {"const": "conversation"}, "created_at": {"type": "integer"}, "metadata": {"type": "object"}}
      },
      "ConversationRequest": {
        "type": "object",
        "properties": {
          "items": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/ResponseInputItem"}}]},
          "metadata": {"type": "object", "maxProperties": 16, "propertyNames": {"maxLength": 64, "pattern": "^[^\\u0000]*$"},
                       "additionalProperties": {"type": "string", "maxLength": 512}}
        }
      },
      "ConversationItemsAdd": {
        "type": "object", "required": ["items"], "description": "Only items are read.",
        "properties": {"items": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ResponseInputItem"}}]}}
      },
      "ResponseInputItem": {
        "type": "object", "description": "A message (the default type), or a tool call and its output as an earlier response gave them.",
        "properties": {
          "type": {"type": "string", "enum": ["message", "function_call", "function_call_output", "mcp_call", "mcp_approval_request", "mcp_approval_response"]},
          "role": {"type": "string", "description": "A message's: user, system, developer or assistant."},
          "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string"}, "text": {"type": "string"}}}}],
            "description": "A message's: a string, or input_text / output_text / text parts."},
          "call_id": {"type": "string"}, "name": {"type": "string"}, "arguments": {"type": "string"}, "output": {"type": "string"},
          "id": {"type": "string"}, "error": {"type": "string"},
          "approval_request_id": {"type": "string", "description": "An mcp_approval_response's: the request it answers."},
          "approve": {"type": "boolean"}, "reason": {"type": "string", "description": "Why not, for the model to read."}
        },
        "oneOf": [
          {"required": ["role", "content"], "properties": {"type": {"enum": ["message", null]}, "role": {"enum": ["user", "system", "developer", "assistant"]},
            "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"required": ["type", "text"],
              "properties": {"type": {"enum": ["input_text", "output_text", "text"]}, "text": {"type": "string"}}}}]}}},
          {"required": ["type", "call_id", "name"], "properties": {"type": {"const": "function_call"}, "call_id": {"type": "string"}, "name": {"type": "string"}}},
          {"required": ["type", "call_id"], "properties": {"type": {"const": "function_call_output"}, "call_id": {"type": "string"}}},
          {"required": ["type", "name", "id"], "properties": {"type": {"const": "mcp_call"}, "name": {"type": "string"}, "id": {"type": "string"}}}
        ]
      },
      "ConversationUpdate": {
        "type": "object", "required": ["metadata"], "description": "Only metadata is read: its keys are set.",
        "properties": {"metadata": {"type": "object", "maxProperties": 16, "propertyNames": {"maxLength": 64, "pattern": "^[^\\u0000]*$"},
                                    "additionalProperties": {"type": "string", "maxLength": 512}}}
      },
      "OpenAIItem": {
        "type": "object", "required": ["type", "id"],
        "properties": {"type": {"type": "string", "enum": ["message", "mcp_call", "function_call", "function_call_output"]}, "id": {"type": "string"}, "status": {"type": "string"},
                       "role": {"type": "string"}, "content": {"type": "array"}}
      },
      "OpenAIItemList": {
        "type": "object", "required": ["object", "data", "has_more"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"type": "object", "required": ["type", "id"]}},
                       "first_id": {"type": ["string", "null"]}, "last_id": {"type": ["string", "null"]}, "has_more": {"type": "boolean"}}
      }
    }
    """#)
}
