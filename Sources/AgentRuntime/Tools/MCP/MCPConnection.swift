import Foundation
import Logging
import Synchronization

/// One JSON-RPC conversation with an MCP server, over stdio or Streamable HTTP. The messages are MCP's (initialize,
/// tools/list, tools/call), written here on `JSONValue` rather than with the MCP Swift SDK: its client transports
/// are URLSession's (which buffers whole responses on Linux) and its own stdio process handling, and the server side
/// of this project already speaks the same messages with its own types.
protocol MCPConnection: Sendable {
    /// The result of `method`, or `MCPFailure` (a JSON-RPC error, a broken connection, an oversized message).
    func request(_ method: String, params: JSONValue, timeout: Duration) async throws -> JSONValue
    func notify(_ method: String, params: JSONValue) async throws
    /// False once the server has gone (the process exited, the connection broke for good).
    var isAlive: Bool { get }
    func close() async
}

/// Why a call to an MCP server failed, worded for the model (and the log).
struct MCPFailure: Error, CustomStringConvertible {
    var description: String
    /// The server is gone: the source starts it again (within its crash-loop limit).
    var fatal = false
    /// A Streamable HTTP session the server no longer knows: initialize again.
    var sessionLost = false
}

enum MCPMessages {
    /// JSON-RPC messages are capped both ways; a larger one is the server misbehaving.
    static let maxMessageBytes = 4 * 1024 * 1024
    static let protocolVersion = "2025-06-18"

    static func encode(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(value)).map(Array.init) ?? []
    }

    static func request(id: Int, method: String, params: JSONValue) -> [UInt8] {
        encode(JSONValue.object(["jsonrpc": "2.0", "id": .number(Double(id)), "method": .string(method), "params": params]))
    }

    static func notification(method: String, params: JSONValue) -> [UInt8] {
        encode(JSONValue.object(["jsonrpc": "2.0", "method": .string(method), "params": params]))
    }

    /// A message the server sent: an answer to one of ours, a notification, or a request of its own.
    enum Incoming {
        case response(id: Int, result: Result<JSONValue, MCPFailure>)
        case notification(method: String)
        case request(id: JSONValue, method: String)
        case unreadable
    }

    static func parse(_ bytes: some Collection<UInt8>) -> Incoming {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)), case .object(let message) = value else {
            return .unreadable
        }
        if case .string(let method)? = message["method"] {
            if let id = message["id"], id != .null { return .request(id: id, method: method) }
            return .notification(method: method)
        }
        guard case .number(let number)? = message["id"], let id = Int(exactly: number) else { return .unreadable }
        if case .object(let error)? = message["error"] {
            let text: String = if case .string(let text)? = error["message"] { text } else { "unknown error" }
            return .response(id: id, result: .failure(MCPFailure(description: "the server answered with an error: \(text.prefix(500))")))
        }
        return .response(id: id, result: .success(message["result"] ?? .object([:])))
    }

    /// What we answer a request the server makes of us: `ping`, and nothing else (no sampling, roots or elicitation).
    static func answer(_ id: JSONValue, method: String) -> [UInt8] {
        if method == "ping" { return encode(JSONValue.object(["jsonrpc": "2.0", "id": id, "result": .object([:])])) }
        return encode(JSONValue.object(["jsonrpc": "2.0", "id": id,
                                            "error": .object(["code": .number(-32601), "message": .string("not supported by this client")])]))
    }
}

/// Calls in flight, by JSON-RPC id: each waits for its answer, its timeout or the end of the connection.
final class PendingCalls: Sendable {
    private let state = Mutex<(next: Int, waiting: [Int: CheckedContinuation<JSONValue, any Error>], closed: MCPFailure?)>((1, [:], nil))

    func nextID() -> Int { state.withLock { $0.next += 1; return $0.next } }

    /// Waits for the answer to `id`; `send` puts the request on the wire once the waiter is registered.
    func wait(_ id: Int, timeout: Duration, send: @escaping @Sendable () throws -> Void) async throws -> JSONValue {
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.resolve(id, .failure(MCPFailure(description: "no answer within \(timeout.formatted(.units(allowed: [.seconds, .milliseconds])))")))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let refused: MCPFailure? = state.withLock { state in
                    if let closed = state.closed { return closed }
                    state.waiting[id] = continuation
                    return nil
                }
                if let refused { return continuation.resume(throwing: refused) }
                do { try send() } catch { resolve(id, .failure(error)) }
            }
        } onCancel: {
            resolve(id, .failure(CancellationError()))
        }
    }

    func resolve(_ id: Int, _ result: Result<JSONValue, any Error>) {
        guard let continuation = state.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        continuation.resume(with: result)
    }

    /// Fails every call in flight, and every later one, with `failure`.
    func close(_ failure: MCPFailure) {
        let waiting = state.withLock { state in
            if state.closed == nil { state.closed = failure }
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(throwing: failure) }
    }

    var isClosed: Bool { state.withLock { $0.closed != nil } }
}
