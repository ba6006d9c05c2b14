import HTTPTypes
import AgentRuntime
import Foundation
import Runs

/// JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it, in both protocol eras: the handshake era
/// (2025-03-26, 2025-06-18, 2025-11-25: `initialize`, then requests) and the stateless 2026-07-28 revision (no
/// handshake; every request names its version in `_meta` and in headers the server checks against the body).
enum MCPWire {
    static let path = "/mcp"
    /// The router takes `/mcp/` (and doubled slashes) as `/mcp`; so do its error answers.
    static func isMCPPath(_ path: String) -> Bool {
        path.split(separator: "/", omittingEmptySubsequences: true) == ["mcp"]
    }

    /// Answered as asked in `initialize`; any other asked version gets the newest of them.
    static let handshakeVersions = ["2025-03-26", "2025-06-18", "2025-11-25"]
    static let modernVersions = ["2026-07-28"]
    static let metaVersion = "io.modelcontextprotocol/protocolVersion"
    static let metaCapabilities = "io.modelcontextprotocol/clientCapabilities"
    static let metaServerInfo = "io.modelcontextprotocol/serverInfo"

    enum Era: Equatable {
        case handshake(String)
        case modern(String)

        var isModern: Bool { if case .modern = self { true } else { false } }
    }

    // JSON-RPC's codes, and the 2026-07-28 revision's own.
    static let parseError = -32700
    static let invalidRequest = -32600
    static let methodNotFound = -32601
    static let invalidParams = -32602
    static let internalError = -32603
    /// Implementation-defined: a limit or a restart; the same call may succeed later.
    static let tryLater = -32000
    static let headerMismatch = -32020
    static let unsupportedVersion = -32022
    /// What MCP's own servers answer a cancelled request with.
    static let requestCancelled = -32800

    /// A JSON-RPC error with the HTTP status it travels with.
    struct Failure: Error {
        var status: Int
        var code: Int
        var message: String
        var data: JSONValue?
        var headers: HTTPFields = [:]

        /// The status of a plain refusal of the request's content: the handshake era answers errors with 200 (as
        /// MCP's reference server does), the stateless revision with 400, and 404 for an unknown method.
        static func refusal(_ era: Era?, code: Int, _ message: String, data: JSONValue? = nil) -> Failure {
            let status = era?.isModern == true ? (code == MCPWire.methodNotFound ? 404 : 400) : (code == MCPWire.parseError ? 400 : 200)
            return Failure(status: status, code: code, message: message, data: data)
        }

        /// An API error (the engine's problem, a limit, a key) as a JSON-RPC error; `data` keeps its status, code and
        /// detail for clients that branch on them. Within a call (`era` known) a refusal of its params travels as the
        /// era answers refusals; anything else (auth, limits, the transport's bounds, a wrong HTTP method) keeps its
        /// HTTP status.
        static func of(_ error: APIError, era: Era?) -> Failure {
            let data: JSONValue = ["status": .number(Double(error.status)), "code": .string(error.code), "detail": .string(error.detail)]
            let code = switch error.status {
            case 429, 503: MCPWire.tryLater
            case 500...: MCPWire.internalError
            case 400, 404, 409, 422: MCPWire.invalidParams
            default: MCPWire.invalidRequest
            }
            if let era, code == MCPWire.invalidParams { return refusal(era, code: code, error.detail, data: data) }
            return Failure(status: error.status, code: code, message: error.detail, data: data, headers: error.headers)
        }
    }

    static func message(id: JSONValue?, result: JSONValue) -> [UInt8] {
        encodeJSON(["jsonrpc": "2.0", "id": id ?? .null, "result": result] as JSONValue)
    }

    static func message(id: JSONValue?, error: Failure) -> [UInt8] {
        var body: [String: JSONValue] = ["code": .number(Double(error.code)), "message": .string(error.message)]
        if let data = error.data { body["data"] = data }
        return encodeJSON(["jsonrpc": "2.0", "id": id ?? .null, "error": .object(body)] as JSONValue)
    }

    static func response(id: JSONValue?, error: Failure) -> Response {
        var headers = error.headers
        headers.append(HTTPField(name: .contentType, value: "application/json"))
        return Response(status: HTTPResponse.Status(code: error.status), headers: headers, body: .bytes(message(id: id, error: error)))
    }

    static func request(id: JSONValue, method: String, params: JSONValue) -> [UInt8] {
        encodeJSON(["jsonrpc": "2.0", "id": id, "method": .string(method), "params": params] as JSONValue)
    }

    static func notification(_ method: String, params: JSONValue) -> [UInt8] {
        encodeJSON(["jsonrpc": "2.0", "method": .string(method), "params": params] as JSONValue)
    }

    /// A request id as the text a cancel names it by: JSON-RPC ids are strings or integers.
    static func handle(_ id: JSONValue) -> String? {
        switch id {
        case .string(let text) where !text.isEmpty && text.utf8.count <= 200: text
        case .number(let number) where number.rounded() == number && abs(number) < 1e15: String(Int64(number))
        default: nil
        }
    }

    /// Every agent and assistant as a tool: a message in, the answer out, a thread to continue.
    static func tool(_ resolved: AgentResolver.Resolved) -> JSONValue {
        let agent = resolved.agent
        let (title, given) = resolved.record.map { ($0.name, $0.description ?? "") } ?? (agent.name, agent.description)
        let description = given.isEmpty ? "Runs the agent \(title)." : given
        return [
            "name": .string(resolved.id),
            "title": .string(title),
            "description": .string(description + " Answers as text; continue a conversation by passing back the thread_id it returns."),
            "inputSchema": [
                "type": "object",
                "properties": [
                    "message": ["type": "string", "minLength": 1, "description": "What to ask the agent."],
                    "thread_id": ["type": "string", "minLength": 1, "maxLength": 128,
                                  "description": "A thread to continue (a thread_id an earlier call returned); a new thread when absent."],
                ],
                "required": ["message"],
                "additionalProperties": false,
            ],
            "outputSchema": [
                "type": "object",
                "properties": [
                    "run_id": ["type": "string"],
                    "thread_id": ["type": "string"],
                    "usage": [
                        "type": "object",
                        "properties": ["input_tokens": ["type": "integer"], "output_tokens": ["type": "integer"],
                                       "total_tokens": ["type": "integer"]],
                        "required": ["input_tokens", "output_tokens", "total_tokens"],
                    ],
                ],
                "required": ["run_id", "thread_id", "usage"],
            ],
        ]
    }

    static func usage(_ usage: Usage) -> JSONValue {
        ["input_tokens": .number(Double(usage.inputTokens)), "output_tokens": .number(Double(usage.outputTokens)),
         "total_tokens": .number(Double(usage.totalTokens))]
    }
}
