import AgentRuntime

/// `POST /mcp` (`MCPEndpoints`): one JSON-RPC message in, its answer out, as JSON or as an event stream.
extension OpenAPIDocument.Operation {
    static let mcp = OpenAPIDocument.Operation(
        tag: "mcp",
        description: "MCP's Streamable HTTP transport, stateless: any worker answers any message, no session id. Every agent is a tool (`message`, optional `thread_id`); `tools/call` runs it as a stored run and answers its text with `structuredContent: {run_id, thread_id, usage}`. Eras: `initialize` with 2025-03-26, 2025-06-18 or 2025-11-25 answers that version; the 2026-07-28 revision (`server/discover`, the version in `params._meta`, `Mcp-Method` and `Mcp-Name` headers equal to the body's) gets `resultType`, `ttlMs` and `cacheScope`. With `_meta.progressToken` and `Accept: text/event-stream` the answer is an event stream of `notifications/progress` then the result. `notifications/cancelled` (handshake era) cancels the run on whichever worker runs it; in the 2026-07-28 revision closing the request cancels it. Errors are JSON-RPC errors (`data`: status, code, detail); an unsupported `MCP-Protocol-Version` is a 400.",
        body: .json("MCPMessage"),
        responses: [(200, "A JSON-RPC result or error (an event stream when progress was asked for)", .json("MCPMessage")),
                     (202, "A notification, taken", .empty),
                     (400, "Not JSON-RPC, a header that does not match the body, an unsupported version: a JSON-RPC error", .json("MCPMessage")),
                     (404, "An unknown method (2026-07-28): a JSON-RPC error", .json("MCPMessage"))],
        problems: [413])
}

enum MCPSchemas {
    static let components: JSONValue = APISchemas.parse(#"""
    {
      "MCPMessage": {
        "type": "object", "required": ["jsonrpc"],
        "properties": {
          "jsonrpc": {"const": "2.0"},
          "id": {"type": ["string", "integer", "null"]},
          "method": {"type": "string"},
          "params": {"type": "object"},
          "result": {"type": "object"},
          "error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}}}
        },
        "examples": [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"}}}]
      }
    }
    """#)
}
