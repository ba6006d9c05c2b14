import AgentRuntime
import Foundation

/// JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the bodies the endpoints read and write. They describe the
/// `Codable` types next to each endpoint; the in-process spec tests check real responses against them.
enum APISchemas {
    static let components: JSONValue = parse(#"""
    {
      "Problem": {
        "type": "object", "description": "RFC 9457 problem details, plus `code` and `message` for Agent Protocol and OpenAI-style clients.",
        "required": ["type", "title", "status", "detail", "code", "message"],
        "properties": {
          "type": {"type": "string", "examples": ["urn:agentfcgi:problem:validation_error"]},
          "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
          "code": {"type": "string", "description": "Stable, snake_case; branch on it."},
          "message": {"type": "string"},
          "field": {"type": "string", "description": "JSON path of the offending input field."},
          "instance": {"type": "string"}, "request_id": {"type": "string"}
        }
      },
      "Health": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
      "Info": {
        "type": "object", "required": ["name", "version", "flags"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                       "flags": {"type": "object", "additionalProperties": {"type": "boolean"}}}
      },
      "Agent": {
        "type": "object",
        "description": "An agent (Agent Protocol) and the same as a LangGraph assistant: a configured agent (a system assistant, metadata.created_by system, version 1, no dates) or a stored assistant of the caller's tenant. Every field is there unless a search's `select` names fewer; `model` and `tools` are missing for a stored assistant whose agent or tools the configuration no longer has.",
        "properties": {
          "agent_id": {"type": "string"}, "assistant_id": {"type": "string"}, "graph_id": {"type": "string"},
          "name": {"type": "string"}, "description": {"type": ["string", "null"]}, "metadata": {"type": "object"},
          "config": {"type": "object"}, "context": {"type": "object"}, "version": {"type": "integer"},
          "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
          "capabilities": {"type": "object", "additionalProperties": {"type": "boolean"}},
          "model": {"type": "string"}, "tools": {"type": "array", "items": {"type": "string"}}
        }
      },
      "AgentSearch": {
        "type": "object",
        "description": "Configured agents first (in the configuration's order), then the tenant's assistants, newest first; `sort_by` orders them all (configured agents have no dates: first when ascending). X-Pagination-Next gives the next offset while there are more.",
        "properties": {
          "name": {"type": "string"}, "graph_id": {"type": "string"}, "metadata": {"type": "object"},
          "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
          "offset": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
          "sort_by": {"type": "string", "enum": ["assistant_id", "graph_id", "name", "created_at", "updated_at"]},
          "sort_order": {"type": "string", "enum": ["asc", "desc"]},
          "select": {"type": "array", "items": {"type": "string", "enum": ["assistant_id", "agent_id", "graph_id", "name", "description", "config", "context",
                                                                         "metadata", "version", "created_at", "updated_at", "capabilities", "model", "tools"]}}
        }
      },
      "AgentSchemas": {
        "type": "object", "required": ["agent_id", "graph_id", "input_schema", "output_schema", "state_schema", "config_schema"],
        "properties": {"agent_id": {"type": "string"}, "graph_id": {"type": "string"}, "input_schema": {"type": "object"},
                       "output_schema": {"type": "object"}, "state_schema": {"type": "object"}, "config_schema": {"type": "object"}}
      },
      "Tool": {
        "type": "object", "required": ["name", "description", "parameters", "timeout_ms"],
        "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                       "parameters": {"type": "object", "description": "JSON Schema of the arguments."},
                       "timeout_ms": {"type": "integer"}}
      },
      "ToolInvoke": {
        "type": "object", "properties": {"arguments": {"type": "object", "description": "Checked against the tool's `parameters`."}},
        "examples": [{"arguments": {"expression": "12*(3+4)"}}]
      },
      "ToolResult": {
        "type": "object", "required": ["tool", "result", "duration_ms"],
        "properties": {"tool": {"type": "string"}, "result": {"type": "string"}, "duration_ms": {"type": "integer"}}
      },
      "InputMessage": {
        "type": "object", "description": "OpenAI style (`role`) or LangChain style (`type`); content a string or parts: text, images (`image_url`, LangChain's `image`; data: URLs of png, jpeg, gif or webp up to 8 MiB, or http(s) URLs the model server fetches), files (`file`: PDF, text, Markdown, CSV or JSON as data: URLs up to 8 MiB).",
        "required": ["content"],
        "oneOf": [{"required": ["role"]}, {"required": ["type"]}],
        "properties": {
          "role": {"type": "string", "enum": ["user", "assistant", "system", "developer", "human", "ai"]},
          "type": {"type": "string", "enum": ["user", "assistant", "system", "developer", "human", "ai"]},
          "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/InputContentPart"}}]},
          "id": {"type": "string"}, "name": {"type": "string"}
        }
      },
      "InputContentPart": {
        "description": "A part of a message's content. Images and files travel as data: URLs (at most 8 MiB: 413 beyond); an image may also be an http(s) URL of a public host, which the model server fetches (no credentials, at most 2048 characters; the pattern spells out data: URLs only).",
        "oneOf": [
          {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": {"type": "string"}}},
          {"type": "object", "required": ["type", "image_url"], "properties": {"type": {"const": "image_url"},
            "image_url": {"oneOf": [{"$ref": "#/components/schemas/ImageDataURL"},
                                    {"type": "object", "required": ["url"], "properties": {"url": {"$ref": "#/components/schemas/ImageDataURL"}, "detail": {"type": "string", "enum": ["auto", "low", "high"]}}}]},
            "detail": {"type": "string", "enum": ["auto", "low", "high"]}}},
          {"type": "object", "required": ["type", "url"], "properties": {"type": {"const": "image"}, "url": {"$ref": "#/components/schemas/ImageDataURL"}}},
          {"type": "object", "required": ["type", "mime_type"], "description": "LangChain's image block: base64 (or data) with its mime_type.",
           "anyOf": [{"required": ["base64"], "properties": {"base64": {"type": "string"}}}, {"required": ["data"], "properties": {"data": {"type": "string"}, "base64": {"type": "null"}}}],
           "properties": {"type": {"const": "image"}, "url": {"type": "null"}, "base64": {"type": "string"}, "data": {"description": "The same as base64 (read when base64 is not there)."},
                          "mime_type": {"type": "string", "enum": ["image/png", "image/jpeg", "image/gif", "image/webp"]}}},
          {"type": "object", "required": ["type", "file"], "properties": {"type": {"const": "file"},
            "file": {"type": "object", "required": ["file_data"], "properties": {"file_data": {"$ref": "#/components/schemas/FileDataURL"}, "filename": {"$ref": "#/components/schemas/FileName"}, "file_id": {"type": "null"}}},
            "file_id": {"type": "null"}}},
          {"type": "object", "required": ["type", "mime_type"], "description": "LangChain's file block: base64 (or data) with its mime_type.",
           "anyOf": [{"required": ["base64"], "properties": {"base64": {"type": "string"}}}, {"required": ["data"], "properties": {"data": {"type": "string"}, "base64": {"type": "null"}}}],
           "properties": {"type": {"const": "file"}, "file_id": {"type": "null"},
                          "file": {"type": ["object", "null"], "properties": {"file_data": {"type": "null"}, "file_id": {"type": "null"}, "filename": {"$ref": "#/components/schemas/FileName"}}},
                          "base64": {"type": "string"}, "data": {"description": "The same as base64 (read when base64 is not there)."},
                          "mime_type": {"type": "string", "enum": ["application/pdf", "text/plain", "text/markdown", "text/csv", "application/json"]},
                          "filename": {"$ref": "#/components/schemas/FileName"}}}
        ]
      },
      "ImageDataURL": {"type": "string", "pattern": "^data:image/(png|jpeg|gif|webp);base64,[^\\u0000]*$", "description": "data:image/(png|jpeg|gif|webp);base64,..."},
      "FileDataURL": {"type": "string", "pattern": "^data:(application/pdf|text/plain|text/markdown|text/csv|application/json);base64,[^\\u0000]*$", "description": "data:(application/pdf|text/plain|text/markdown|text/csv|application/json);base64,..."},
      "FileName": {"type": "string", "pattern": "^[^/\\\\\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029\\u0000]{0,255}$", "description": "A plain name: at most 255 bytes, no slash, backslash or line break."},
      "Message": {
        "type": "object", "description": "A message as LangGraph serializes LangChain messages.",
        "required": ["type", "content", "id"],
        "properties": {
          "type": {"type": "string", "enum": ["human", "ai", "system", "tool"]},
          "content": {"oneOf": [{"type": "string"},
                                {"type": "array", "description": "LangChain's content blocks, for a message with images or files: text, image_url, file.",
                                 "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["text", "image_url", "file"]}}}}]},
          "id": {"type": "string"}, "name": {"type": "string"},
          "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "name", "args", "type"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "args": {}, "type": {"const": "tool_call"}}}},
          "tool_call_id": {"type": "string"},
          "usage_metadata": {"$ref": "#/components/schemas/Usage"},
          "response_metadata": {"type": "object", "additionalProperties": {"type": "string"}}
        }
      },
      "Usage": {
        "type": "object", "required": ["input_tokens", "output_tokens", "total_tokens"],
        "properties": {"input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"},
                       "total_tokens": {"type": "integer"},
                       "estimated": {"type": "boolean", "description": "The model server reported none; counted in words."}}
      },
      "Values": {
        "type": "object", "description": "The state: the conversation's messages (and the run's usage after a stateless run), and any state keys clients sent beside them. A failed run on a thread adds `__error__`.",
        "additionalProperties": true,
        "required": ["messages"],
        "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                       "usage": {"$ref": "#/components/schemas/Usage"},
                       "__error__": {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                       "__interrupt__": {"type": "array", "description": "The thread waits for a decision about these tool calls (LangChain's human-in-the-loop interrupt: action_requests, review_configs).", "items": {"type": "object"}}}
      },
      "ApprovalDecision": {
        "oneOf": [
          {"type": "object", "required": ["type"], "properties": {"type": {"const": "approve"}}},
          {"type": "object", "required": ["type", "edited_action"], "properties": {"type": {"const": "edit"}, "edited_action": {"type": "object", "required": ["name", "args"], "properties": {"name": {"type": "string"}, "args": {"type": "object"}}}}},
          {"type": "object", "required": ["type"], "properties": {"type": {"const": "reject"}, "message": {"type": "string"}}}
        ]
      },
      "RunCreate": {
        "type": "object", "description": "The body of every run-creating POST, as LangGraph's and Agent Protocol's clients send it. Unknown top-level fields are ignored.",
        "properties": {
          "assistant_id": {"type": "string", "description": "The agent to run (or `agent_id`)."},
          "agent_id": {"type": "string"},
          "input": {"type": "object", "required": ["messages"],
                    "description": "LangGraph's state update: messages run the agent; other keys (not starting with __, not usage) are state kept on the thread and shown with its values, at most 64 KiB per thread.",
                    "properties": {"messages": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/InputMessage"}}},
                    "additionalProperties": true},
          "messages": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/InputMessage"}},
          "metadata": {"type": "object"}, "config": {"type": "object"},
          "command": {"type": "object", "description": "LangGraph's Command, `resume` only: the decisions about the tool calls the thread's paused run waits for, one per action request, in order (`{\"resume\": {\"decisions\": [{\"type\": \"approve\"}, {\"type\": \"edit\", \"edited_action\": {\"name\", \"args\"}}, {\"type\": \"reject\", \"message\"}]}}`, or the same under the interrupt's id). Sent instead of input; 409 when the thread waits for no decision, 422 for decisions that do not fit.",
                      "required": ["resume"], "additionalProperties": false,
                      "properties": {"resume": {"type": "object", "required": ["decisions"], "description": "The decisions (or, not listed here, the same object under the interrupt's id as the only key).", "properties": {"decisions": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"$ref": "#/components/schemas/ApprovalDecision"}}}}}},
          "interrupt_before": {"description": "LangGraph's static breakpoints: stop before these steps of the agent (\"*\": both). The thread waits (`next`); a run on it without input goes on.",
                               "oneOf": [{"const": "*"}, {"type": "array", "items": {"type": "string", "enum": ["agent", "tools"]}}]},
          "interrupt_after": {"description": "Stop after these steps (after agent is before tools).",
                              "oneOf": [{"const": "*"}, {"type": "array", "items": {"type": "string", "enum": ["agent", "tools"]}}]},
          "stream_mode": {"oneOf": [{"$ref": "#/components/schemas/StreamMode"},
                                    {"type": "array", "items": {"$ref": "#/components/schemas/StreamMode"}}]},
          "on_disconnect": {"type": "string", "enum": ["cancel", "continue"],
                            "description": "Default: continue for runs on a thread, cancel otherwise."},
          "multitask_strategy": {"type": "string", "enum": ["reject", "interrupt", "rollback", "enqueue"], "default": "reject"},
          "if_not_exists": {"type": "string", "enum": ["create", "reject"], "default": "reject"},
          "after_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
          "webhook": {"type": "string", "format": "uri", "description": "Receives run.completed / run.failed / run.cancelled / run.interrupted (paused for approval), signed (Standard Webhooks)."},
          "checkpoint_id": {"type": "string", "description": "Runs on a thread only: start from this checkpoint's state; the thread's later messages are dropped first (422 without a thread, 404 checkpoint_not_found)."},
          "checkpoint": {"allOf": [{"$ref": "#/components/schemas/CheckpointRef"}],
                         "description": "LangGraph's checkpoint object: the same as checkpoint_id (send one of them, or the same id in both)."}
        },
        "examples": [{"assistant_id": "assistant", "input": {"messages": [{"role": "user", "content": "what is 12*(3+4)?"}]}}]
      },
      "CheckpointRef": {
        "description": "A checkpoint id, or LangGraph's checkpoint object; an object without checkpoint_id is the thread's latest state.",
        "oneOf": [{"type": "string"}, {"type": "object", "properties": {"checkpoint_id": {"type": "string"}}}]
      },
      "StreamMode": {"type": "string", "enum": ["values", "messages", "messages-tuple", "updates", "custom", "events", "tasks", "checkpoints", "debug"]},
      "Thread": {
        "type": "object", "required": ["thread_id", "created_at", "updated_at", "metadata", "status", "values", "interrupts"],
        "properties": {
          "thread_id": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
          "updated_at": {"type": "string", "format": "date-time"}, "metadata": {"type": "object"},
          "status": {"type": "string", "enum": ["idle", "busy", "interrupted", "error"]},
          "values": {"$ref": "#/components/schemas/Values"}, "interrupts": {"type": "object"},
          "ttl": {"type": "object", "properties": {"strategy": {"const": "delete"}, "ttl": {"type": "number"}}},
          "expires_at": {"type": "string", "format": "date-time"}
        }
      },
      "TTL": {
        "description": "Minutes after the last update before the thread is deleted: a number or {ttl, strategy}.",
        "oneOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 5256000},
                  {"type": "object", "required": ["ttl"], "properties": {"ttl": {"type": "number", "exclusiveMinimum": 0, "maximum": 5256000},
                                                                         "strategy": {"const": "delete"}}}]
      },
      "ThreadCreate": {
        "type": "object",
        "properties": {"thread_id": {"type": "string", "pattern": "^[!-.0-\\[\\]-~]{1,128}$"},
                       "metadata": {"type": "object"}, "if_exists": {"type": "string", "enum": ["raise", "do_nothing"], "default": "raise"},
                       "ttl": {"$ref": "#/components/schemas/TTL"}},
        "examples": [{"metadata": {"user": "ann"}}]
      },
      "ThreadUpdate": {"type": "object", "properties": {"metadata": {"type": "object", "description": "Merged into the thread's."}, "ttl": {"$ref": "#/components/schemas/TTL"}}},
      "ThreadSearch": {
        "type": "object",
        "properties": {"metadata": {"type": "object", "description": "Top-level keys that must equal these values."},
                       "status": {"type": "string", "enum": ["idle", "busy", "interrupted", "error"]},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                       "offset": {"type": "integer", "minimum": 0, "default": 0}}
      },
      "Checkpoint": {
        "type": "object", "required": ["thread_id", "checkpoint_ns"],
        "properties": {"thread_id": {"type": "string"}, "checkpoint_ns": {"type": "string"}, "checkpoint_id": {"type": "string"}}
      },
      "ThreadState": {
        "type": "object", "required": ["values", "next", "tasks", "interrupts", "checkpoint", "parent_checkpoint", "metadata", "created_at"],
        "properties": {"values": {"$ref": "#/components/schemas/Values"}, "next": {"type": "array", "items": {"type": "string"}},
                       "tasks": {"type": "array"}, "interrupts": {"type": "array"},
                       "checkpoint": {"$ref": "#/components/schemas/Checkpoint"},
                       "parent_checkpoint": {"oneOf": [{"$ref": "#/components/schemas/Checkpoint"}, {"type": "null"}],
                                             "description": "null for the first checkpoint."},
                       "metadata": {"type": "object"},
                       "created_at": {"type": ["string", "null"], "format": "date-time", "description": "null before the thread has a checkpoint."}}
      },
      "HistoryRequest": {
        "type": "object",
        "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
                       "before": {"allOf": [{"$ref": "#/components/schemas/CheckpointRef"}], "description": "States before this checkpoint."}}
      },
      "Run": {
        "type": "object",
        "required": ["run_id", "assistant_id", "created_at", "updated_at", "status", "metadata", "multitask_strategy", "on_disconnect", "kwargs", "attempts", "background", "attempt_log"],
        "properties": {
          "run_id": {"type": "string"}, "thread_id": {"type": "string"}, "assistant_id": {"type": "string"},
          "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
          "status": {"type": "string", "enum": ["pending", "running", "success", "error", "timeout", "interrupted"]},
          "metadata": {"type": "object"},
          "multitask_strategy": {"type": "string", "enum": ["reject", "interrupt", "rollback", "enqueue"]},
          "on_disconnect": {"type": "string", "enum": ["cancel", "continue"]},
          "kwargs": {"type": "object", "description": "The request that created the run."},
          "attempts": {"type": "integer"},
          "cancel_action": {"type": "string", "enum": ["interrupt", "rollback"]},
          "result": {"type": "object", "description": "usage, turns, error {error, message}, context {dropped_messages}."},
          "background": {"type": "boolean"}, "webhook": {"type": "string"},
          "attempt_log": {"type": "array", "items": {"type": "object", "properties": {"attempt": {"type": "integer"}, "worker": {"type": "string", "pattern": "^[0-9a-f]{12}$", "description": "The worker, as a hash."},
                                                                                   "started_at": {"type": "integer"}, "ended": {"type": "string"}}}},
          "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "With tracing on: the trace of the request that made the run."}
        }
      },
      "WebhookDelivery": {
        "type": "object", "required": ["webhook_id", "url", "type", "status", "attempts", "created_at"],
        "properties": {
          "webhook_id": {"type": "string"}, "url": {"type": "string"},
          "type": {"type": "string", "enum": ["run.completed", "run.failed", "run.cancelled", "run.interrupted"]},
          "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
          "attempts": {"type": "array", "items": {"type": "object", "required": ["attempt", "at", "duration_ms"],
            "properties": {"attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                           "status_code": {"type": "integer"}, "error": {"type": "string"}, "duration_ms": {"type": "integer"}}}},
          "next_attempt_at": {"type": "string", "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}
        }
      }
    }
    """#)

    static func parse(_ text: String) -> JSONValue {
        // A malformed literal is a programming error that every spec test catches.
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
    }
}
