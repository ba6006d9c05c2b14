import AgentRuntime

/// The thread stream's operations (`ThreadStreamEndpoints`) and their bodies.
extension OpenAPIDocument.Operation {
    static let threadCommand = OpenAPIDocument.Operation(
        tag: "thread stream",
        description: "`run.start` queues a run on the thread (creating the thread if missing) and answers its `run_id`, with `meta.applied_through_seq`: the stream's events of this run all come after it. A command the server refuses is answered 200 with `{\"type\": \"error\", \"id\", \"error\", \"message\"}`, as langgraph-sdk expects; a body that is no command is a 400 in the same shape.",
        body: .json("ThreadCommand"),
        responses: [(200, "The command's result, or its refusal", .json("ThreadCommandResult")),
                    (400, "No command at all (not JSON, no integer id, no method): the refusal, id null", .json("ThreadCommandResult"))],
        problems: [413])
    static let threadStreamEvents = OpenAPIDocument.Operation(
        tag: "thread stream",
        description: "Server-Sent Events of every run on the thread, one after another, read from their event logs: `event:` is the envelope's `method`, `id:` its `seq`, `data:` `{\"type\": \"event\", \"event_id\", \"seq\", \"method\", \"params\": {\"namespace\", \"timestamp\", \"data\", \"node\"?}}`. With `since`, the events after it (resume after a dropped connection, on any worker); without, the thread's whole history first, as LangGraph's server replays it. The stream stays open across runs until the client leaves.",
        body: .json("ThreadSubscription"),
        responses: [(200, "The thread's events", .threadStream)], problems: OpenAPIDocument.bodyProblems + [404])
    static let threadStreamWebSocket = OpenAPIDocument.Operation(
        tag: "thread stream", description: "WebSockets cannot pass FastCGI: always a 400 `websocket_not_supported`; use the SSE stream (POST).",
        body: nil, responses: [], problems: [400, 404])
    static let threadJoinStream = OpenAPIDocument.Operation(
        tag: "thread stream",
        description: "LangGraph's `threads.join_stream`: the runs' frames in the stream modes each was created with (`run_modes`), or only their `metadata` frames (`lifecycle`); each run ends with `metadata` `{\"status\": \"run_done\", \"run_id\"}` and the stream stays open. Every frame has an `id:`.",
        body: nil,
        parameters: [
            OpenAPIDocument.Parameter(name: "stream_mode", location: "query", schema: ["type": "array", "items": ["type": "string", "enum": ["run_modes", "lifecycle", "state_update"]]],
                                      description: "Repeat, or separate with commas (`stream_modes` is read too). Default run_modes. state_update carries nothing: there is no update_state here."),
            OpenAPIDocument.Parameter(name: "Last-Event-ID", location: "header", schema: ["type": "string", "pattern": "^[ \\t]*(-1|-|0|0*[1-9][0-9]{0,17})?[ \\t]*$"],
                                      description: "Resume after this frame; -1 replays the thread from its first run; blank: from the run in progress."),
        ],
        responses: [(200, "The thread's runs' frames", .eventStream)], problems: [404, 422])
}

enum ThreadStreamSchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "ThreadCommand": {
        "type": "object", "required": ["id", "method"],
        "properties": {
          "id": {"type": "integer"},
          "method": {"type": "string", "description": "run.start, or input.respond (params interrupt_id and response: {\"decisions\": [...]}, answering the approval the thread waits for); the WebSocket commands are refused with not_supported."},
          "params": {"type": "object", "description": "run.start: assistant_id, input, config, metadata, multitask_strategy (default enqueue)."}
        },
        "examples": [{"id": 1, "method": "run.start", "params": {"assistant_id": "assistant", "input": {"messages": [{"role": "user", "content": "hi"}]}}}]
      },
      "ThreadCommandResult": {
        "type": "object", "required": ["type"],
        "properties": {
          "type": {"type": "string", "enum": ["success", "error"]}, "id": {"type": ["integer", "null"]},
          "result": {"type": "object"}, "meta": {"type": "object", "properties": {"applied_through_seq": {"type": "integer"}}},
          "error": {"type": "string"}, "message": {"type": "string"}
        }
      },
      "ThreadSubscription": {
        "type": "object", "required": ["channels"],
        "properties": {
          "channels": {"type": "array", "minItems": 1, "items": {"type": "string",
                       "pattern": "^(lifecycle|input|messages|values|updates|tools|tasks|checkpoints|custom|custom:[^\\u0000]+)$"}},
          "namespaces": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
          "depth": {"type": "integer", "minimum": 0},
          "since": {"type": "integer", "minimum": 0}
        }
      }
    }
    """#)
}
