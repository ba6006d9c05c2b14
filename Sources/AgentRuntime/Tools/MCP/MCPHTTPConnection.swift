import Foundation
import Logging
import NIOHTTP1
import Outbound
import Synchronization

/// An MCP server over Streamable HTTP: each message a POST through `Outbound` (the configured host may be internal;
/// any other, and every redirect hop, is judged by the address policy; the configured headers go to the configured
/// host only). An answer is JSON or an SSE stream that ends with it; either is read whole, within the 4 MiB cap.
final class MCPHTTPConnection: MCPConnection {
    let url: String
    let headers: [(String, String)]
    let outbound: Outbound
    let logger: Logger
    let onNotification: @Sendable (String) -> Void
    private let ids = PendingCalls()
    /// The session the server gave at initialize (stateful servers), and the protocol version agreed.
    private let session = Mutex<(id: String?, version: String?, alive: Bool)>((nil, nil, true))

    init(url: String, headers: [(String, String)], outbound: Outbound, logger: Logger, onNotification: @escaping @Sendable (String) -> Void) {
        self.url = url
        self.headers = headers
        self.outbound = outbound
        self.logger = logger
        self.onNotification = onNotification
    }

    var isAlive: Bool { session.withLock { $0.alive } }

    func policy(timeout: Duration) -> OutboundPolicy {
        let host = URL(string: url)?.host ?? ""
        return OutboundPolicy(internalAllowed: [host], redirects: .follow(max: 3), maxResponseBytes: MCPMessages.maxMessageBytes,
                              timeout: timeout, connectTimeout: min(timeout, .seconds(5)))
    }

    func request(_ method: String, params: JSONValue, timeout: Duration) async throws -> JSONValue {
        let id = ids.nextID()
        // An SSE answer is read up to the event that answers this call: a server may keep the stream open after it.
        let answered: @Sendable ([UInt8]) -> Bool = { body in
            guard body.count > 2, body.suffix(2) == [0x0A, 0x0A] || body.suffix(4) == [0x0D, 0x0A, 0x0D, 0x0A] else { return false }
            return Self.sseMessages(body).contains { message in
                if case .response(let answered, _) = MCPMessages.parse(message) { return answered == id }
                return false
            }
        }
        let response = try await post(MCPMessages.request(id: id, method: method, params: params), timeout: timeout, complete: answered)
        if method == "initialize" {
            let given = response.headers.first(name: "Mcp-Session-Id")
            session.withLock { $0.id = given }
        }
        for message in Self.messages(response) {
            switch MCPMessages.parse(message) {
            case .response(let answered, let result) where answered == id:
                let value = try result.get()
                if method == "initialize", case .string(let version)? = value.objectValue?["protocolVersion"] {
                    session.withLock { $0.version = version }
                }
                return value
            case .notification(let name): onNotification(name)
            default: continue
            }
        }
        throw MCPFailure(description: "the server's answer did not hold a response to the call")
    }

    func notify(_ method: String, params: JSONValue) async throws {
        _ = try await post(MCPMessages.notification(method: method, params: params), timeout: .seconds(10))
    }

    private func post(_ body: [UInt8], timeout: Duration, complete: (@Sendable ([UInt8]) -> Bool)? = nil) async throws -> Outbound.Response {
        var request = Outbound.Request(method: .POST, url: url, headers: [
            ("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
        ] + headers, body: body)
        request.credentials = Set(headers.map { $0.0.lowercased() })
        request.complete = complete
        let (sessionID, version) = session.withLock { ($0.id, $0.version) }
        if let sessionID { request.headers.append(("Mcp-Session-Id", sessionID)) }
        if let version { request.headers.append(("MCP-Protocol-Version", version)) }
        let response: Outbound.Response
        do {
            response = try await outbound.send(request, policy: policy(timeout: timeout), metadata: ["mcp.url": .string(url)])
        } catch let error as OutboundError {
            throw MCPFailure(description: "the MCP server could not be reached: \(error.reason)", fatal: error.isRefusal)
        }
        if response.truncated { throw MCPFailure(description: "the MCP server sent a message over 4 MiB") }
        if response.status == 404, sessionID != nil {
            throw MCPFailure(description: "the MCP server ended the session", fatal: true, sessionLost: true)
        }
        guard (200..<300).contains(response.status) else {
            throw MCPFailure(description: "the MCP server answered HTTP \(response.status)", fatal: response.status == 401 || response.status == 403)
        }
        return response
    }

    /// The JSON-RPC messages of an answer: a JSON body (one message or a batch), or the `data` of each SSE event.
    static func messages(_ response: Outbound.Response) -> [[UInt8]] {
        let type = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard type.hasPrefix("text/event-stream") else {
            if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body)), case .array(let batch) = value {
                return batch.map(MCPMessages.encode)
            }
            return [response.body]
        }
        return sseMessages(response.body)
    }

    /// The `data` of each event of an SSE body (its last event too, when the body ends without a blank line).
    static func sseMessages(_ body: [UInt8]) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var data: [UInt8] = []
        for rawLine in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
            var line = Array(rawLine)
            if line.last == 0x0D { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { messages.append(data) }
                data = []
            } else if line.starts(with: Array("data:".utf8)) {
                var value = line.dropFirst(5)
                if value.first == 0x20 { value = value.dropFirst() }
                if !data.isEmpty { data.append(0x0A) }
                data.append(contentsOf: value)
            }
        }
        if !data.isEmpty { messages.append(data) }
        return messages
    }

    func close() async {
        let sessionID = session.withLock { state -> String? in
            state.alive = false
            return state.id
        }
        // A stateful server is told the session is over; it may not care.
        guard let sessionID else { return }
        var request = Outbound.Request(method: .DELETE, url: url, headers: headers + [("Mcp-Session-Id", sessionID)])
        request.credentials = Set(headers.map { $0.0.lowercased() })
        _ = try? await outbound.send(request, policy: policy(timeout: .seconds(2)))
    }
}
