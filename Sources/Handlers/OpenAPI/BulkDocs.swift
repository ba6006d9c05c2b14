import AgentRuntime

/// The bulk operations (`BulkEndpoints`) and their bodies.
extension OpenAPIDocument.Operation {
    static let threadCount = OpenAPIDocument.Operation(
        tag: "threads", description: "The number of the caller's threads whose top-level metadata equals `metadata` and whose status is `status`.",
        body: .optionalJSON("ThreadCountRequest"), responses: [(200, "How many", .json("Count"))], problems: OpenAPIDocument.bodyProblems)
    static let threadPrune = OpenAPIDocument.Operation(
        tag: "threads",
        description: "`delete` (the default) removes each thread with its runs and events; `keep_latest` keeps the thread and its messages but only its newest checkpoint. Threads that do not exist are skipped and not counted.",
        body: .json("ThreadPrune"), responses: [(200, "How many threads were pruned", .json("ThreadPruneResult"))],
        problems: OpenAPIDocument.bodyProblems)
    static let threadCopy = OpenAPIDocument.Operation(
        tag: "threads", description: "A new thread (a new id) with the source's metadata, TTL, messages and state keys beside them; the source's runs and events are not copied.",
        body: nil, responses: [(200, "The new thread", .json("Thread"))], problems: [404])
    static let runCancelMany = OpenAPIDocument.Operation(
        tag: "runs",
        description: "Either `thread_id` with `run_ids` (those runs of that thread), or `status` alone: every pending or running run of the caller's tenant in it (`all`: both). Runs that already ended are left as they are.",
        body: .json("RunsCancel"),
        parameters: [OpenAPIDocument.Parameter(name: "action", location: "query", schema: ["type": "string", "enum": ["interrupt", "rollback", ""], "default": "interrupt"],
                                               description: "`rollback` also deletes the runs and what they wrote (empty: interrupt).")],
        responses: [(204, "Every matching run was asked to stop", .empty)], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadUpdateState = OpenAPIDocument.Operation(
        tag: "threads",
        description: "LangGraph's `update_state`, outside any run: `values.messages` go through `add_messages` (a message with an id the thread has replaces it in place, `{\"type\": \"remove\", \"id\"}` removes one, others are appended), other keys replace the thread's state keys; one new checkpoint. `as_node` may be `agent` or `tools`; `checkpoint` must be the latest (409 otherwise: run from an earlier one instead). 409 `thread_busy` while a run holds the thread.",
        body: .json("ThreadStateUpdate"), responses: [(200, "The new checkpoint", .json("ThreadStateUpdateResult"))],
        problems: OpenAPIDocument.bodyProblems + [404, 409])
    static let threadStateAtCheckpoint = OpenAPIDocument.Operation(
        tag: "threads", description: "The same as `GET /threads/{thread_id}/state/{checkpoint_id}`, with the checkpoint as LangGraph's object.",
        body: .json("ThreadStateAtCheckpoint"), responses: [(200, "The state at the checkpoint", .json("ThreadState"))],
        problems: OpenAPIDocument.bodyProblems + [404])
    static let assistantCount = OpenAPIDocument.Operation(
        tag: "agents", description: "How many assistants match: `name` (part of the name, or the id), `graph_id`, top-level `metadata`.",
        body: .optionalJSON("AssistantCountRequest"), responses: [(200, "How many", .json("Count"))], problems: OpenAPIDocument.bodyProblems)
    static let assistantGraph = OpenAPIDocument.Operation(
        tag: "agents", description: "LangGraph's drawable graph: `__start__`, the `agent` step, the `tools` step (with the agent's tools; taken when the model calls one, leading back to `agent`), `__end__`. `xray` is accepted; there are no subgraphs to expand.",
        body: nil, parameters: [OpenAPIDocument.Parameter(name: "xray", location: "query", schema: ["type": "string", "pattern": "^(true|false|[0-9]+)$"],
                                                          description: "true, false or a depth.")],
        responses: [(200, "Nodes and edges", .json("AssistantGraph"))], problems: [404, 422])
    static let assistantSubgraphs = OpenAPIDocument.Operation(
        tag: "agents", description: "Always `{}`: an agent has no subgraphs.", body: nil,
        responses: [(200, "No subgraphs", .json("AssistantSubgraphs"))], problems: [404])
    static let runSearch = OpenAPIDocument.Operation(
        tag: "runs",
        description: "Agent Protocol's run search: your tenant's runs on threads (stateless `/runs/wait` and `/runs/stream` runs are not stored), newest first, filtered by `agent_id` (or `assistant_id`), `thread_id`, `status` and top-level `metadata` equality.",
        body: .optionalJSON("RunSearch"), responses: [(200, "The runs, newest first", .jsonArray("Run"))], problems: OpenAPIDocument.bodyProblems)
    static let runBatch = OpenAPIDocument.Operation(
        tag: "runs",
        description: "Up to 100 `POST /runs` bodies, each a background run on a new thread of its own. All are checked first (an error names `[i].field`) and none is queued if one is refused.",
        body: .json("RunBatch"), responses: [(200, "The queued runs, in order", .jsonArray("Run"))], problems: OpenAPIDocument.bodyProblems + [404])
}

enum BulkSchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "Count": {"type": "integer", "minimum": 0},
      "RunSearch": {
        "type": "object",
        "not": {"required": ["agent_id", "assistant_id"], "properties": {"agent_id": {"type": "string"}, "assistant_id": {"type": "string"}},
                "description": "agent_id or assistant_id, not both."},
        "properties": {
          "agent_id": {"type": "string"}, "assistant_id": {"type": "string"}, "thread_id": {"type": "string", "pattern": "^[!-.0-\\[\\]-~]{1,128}$"},
          "status": {"type": "string", "enum": ["pending", "running", "success", "error", "timeout", "interrupted"]},
          "metadata": {"type": "object", "description": "Top-level keys that must equal these values."},
          "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
          "offset": {"type": "integer", "minimum": 0, "default": 0}
        }
      },
      "ThreadCountRequest": {
        "type": "object",
        "properties": {"metadata": {"type": "object", "description": "Top-level keys that must equal these values."},
                       "status": {"type": "string", "enum": ["idle", "busy", "interrupted", "error"]}}
      },
      "ThreadPrune": {
        "type": "object", "required": ["thread_ids"],
        "properties": {"thread_ids": {"type": "array", "maxItems": 1000,
                                      "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-.0-\\[\\]-~]+$"}},
                       "strategy": {"type": "string", "enum": ["delete", "keep_latest"], "default": "delete"}}
      },
      "ThreadPruneResult": {
        "type": "object", "required": ["pruned_count"], "properties": {"pruned_count": {"type": "integer", "minimum": 0}}
      },
      "RunsCancel": {
        "type": "object",
        "description": "`thread_id` with `run_ids`, or `status` alone.",
        "oneOf": [{"required": ["status"], "properties": {"status": {"type": "string"}, "thread_id": {"type": "null"}, "run_ids": {"type": "null"}}},
                  {"required": ["thread_id", "run_ids"], "properties": {"thread_id": {"type": "string"}, "run_ids": {"type": "array"}, "status": {"type": "null"}}}],
        "properties": {"thread_id": {"type": "string", "pattern": "^[!-.0-\\[\\]-~]{1,128}$"},
                       "run_ids": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "pattern": "^[!-.0-\\[\\]-~]{1,128}$"}},
                       "status": {"type": "string", "enum": ["pending", "running", "all"]}}
      },
      "ThreadStateUpdate": {
        "type": "object", "required": ["values"],
        "properties": {"values": {"type": "object", "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/StateMessage"}}}},
                       "as_node": {"type": "string", "enum": ["agent", "tools"]},
                       "checkpoint": {"allOf": [{"$ref": "#/components/schemas/CheckpointRef"}]},
                       "checkpoint_id": {"type": "string"}}
      },
      "StateMessage": {
        "type": "object",
        "description": "A message to add, or to replace by its id, as the thread's state shows messages (so a state read and written back loses nothing): an input message; a tool message (`tool`, with the `tool_call_id` it answers); an assistant message with `tool_calls` (LangChain's `{id, name, args}` or OpenAI's `{id, type: function, function: {name, arguments}}`). Or `{\"type\": \"remove\", \"id\"}`: removes that message.",
        "oneOf": [
          {"required": ["type", "id"], "properties": {"type": {"const": "remove"}, "id": {"type": "string"}}},
          {"required": ["role", "content"], "not": {"required": ["type"]}, "properties": {"role": {"enum": ["assistant", "ai"]}}},
          {"required": ["type", "content"], "not": {"required": ["role"]}, "properties": {"type": {"enum": ["assistant", "ai"]}}},
          {"required": ["role", "content"], "not": {"required": ["type"]}, "properties": {"role": {"enum": ["user", "human", "system", "developer"]}, "tool_calls": {"type": "null"}}},
          {"required": ["type", "content"], "not": {"required": ["role"]}, "properties": {"type": {"enum": ["user", "human", "system", "developer"]}, "tool_calls": {"type": "null"}}},
          {"required": ["role", "content", "tool_call_id"], "not": {"required": ["type"]}, "properties": {"role": {"const": "tool"}, "tool_call_id": {"type": "string", "minLength": 1}, "tool_calls": {"type": "null"}}},
          {"required": ["type", "content", "tool_call_id"], "not": {"required": ["role"]}, "properties": {"type": {"const": "tool"}, "tool_call_id": {"type": "string", "minLength": 1}, "tool_calls": {"type": "null"}}}
        ],
        "properties": {
          "role": {"type": "string"}, "type": {"type": "string"},
          "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/InputContentPart"}}]},
          "id": {"type": "string"}, "name": {"type": "string"}, "tool_call_id": {"type": "string"},
          "tool_calls": {"type": "array", "items": {"$ref": "#/components/schemas/StateToolCall"}},
          "usage_metadata": {"type": "object"}, "response_metadata": {"type": "object"}
        }
      },
      "StateToolCall": {
        "type": "object", "required": ["id"],
        "oneOf": [
          {"required": ["name"], "not": {"required": ["function"]}, "properties": {"name": {"type": "string", "minLength": 1}, "args": {"type": "object"}}},
          {"required": ["function"], "properties": {"function": {"type": "object", "required": ["name"],
                                                                 "properties": {"name": {"type": "string", "minLength": 1}, "arguments": {"type": "string"}}}}}
        ],
        "properties": {"id": {"type": "string", "minLength": 1}, "type": {"type": "string"}}
      },
      "ThreadStateUpdateResult": {
        "type": "object", "required": ["checkpoint"],
        "properties": {"checkpoint": {"type": "object", "required": ["thread_id", "checkpoint_ns", "checkpoint_id"],
                                      "properties": {"thread_id": {"type": "string"}, "checkpoint_ns": {"type": "string"}, "checkpoint_id": {"type": "string"}}}}
      },
      "ThreadStateAtCheckpoint": {
        "type": "object", "required": ["checkpoint"],
        "properties": {"checkpoint": {"allOf": [{"$ref": "#/components/schemas/CheckpointRef"}]},
                       "subgraphs": {"type": "boolean"}}
      },
      "AssistantCountRequest": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "graph_id": {"type": "string"}, "metadata": {"type": "object"}}
      },
      "AssistantGraph": {
        "type": "object", "required": ["nodes", "edges"],
        "properties": {"nodes": {"type": "array", "items": {"type": "object", "required": ["id", "type", "data"]}},
                       "edges": {"type": "array", "items": {"type": "object", "required": ["source", "target"],
                                 "properties": {"source": {"type": "string"}, "target": {"type": "string"}, "conditional": {"type": "boolean"}}}}}
      },
      "AssistantSubgraphs": {"type": "object", "maxProperties": 0},
      "RunBatch": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"$ref": "#/components/schemas/RunCreateUnthreaded"}}
    }
    """#)
}
