import AgentRuntime
import HTTPTypes
import Foundation
import Logging
import Runs

/// `POST /mcp`: MCP's Streamable HTTP transport, stateless. No session is kept, so any worker answers any request;
/// the one thing shared across requests (which run a JSON-RPC id names, for a cancel) is in the store. One handler per
/// request, no server object shared between clients: two clients may both send `id: 1`.
struct MCPEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine

    func register(in router: inout Router) {
        router.add(Route("POST", MCPWire.path, operationID: "mcp", access: .perOperation(
            "its `tools/list` needs the scope `agents:read`, its `tools/call` `runs:write` (or `admin`)."),
                         summary: "MCP (Streamable HTTP): every agent as a tool", doc: .mcp, handler: .async { request, context in
            await handle(request, context)
        }))
    }

    /// One JSON-RPC message: checked (shape, era, headers, scope), then answered. Every failure is a JSON-RPC error.
    func handle(_ request: Request, _ context: RequestContext) async -> Response {
        let message: [String: JSONValue]
        do {
            let json = try request.decodeJSON(JSONValue.self)
            guard case .object(let object) = json else {
                let what = if case .array = json { "Batches are not supported: send one JSON-RPC message per request." }
                    else { "The body must be one JSON-RPC message (an object)." }
                return MCPWire.response(id: nil, error: .init(status: 400, code: MCPWire.invalidRequest, message: what))
            }
            message = object
        } catch let error as APIError where error.status == 413 {
            return MCPWire.response(id: nil, error: .of(error, era: nil))
        } catch {
            let detail = (error as? APIError)?.detail ?? "The body is not JSON."
            return MCPWire.response(id: nil, error: .init(status: 400, code: MCPWire.parseError, message: "Parse error: \(detail)"))
        }
        let id = message["id"]
        // An answer to a request this server sent on a call's stream (an approval's form): for the worker that asked.
        if message["jsonrpc"] == "2.0", message["method"] == nil, message["result"] != nil || message["error"] != nil,
           case .string(let requestID)? = id, requestID.contains("@") {
            return await recordAnswer(message, requestID: requestID, context)
        }
        var era: MCPWire.Era?
        do {
            let call = try Self.parse(message)
            let callEra = try Self.era(request, call)
            era = callEra
            var logger = context.logger
            logger[metadataKey: "mcp.method"] = .string(call.method)
            if let id, let handle = MCPWire.handle(id) { logger[metadataKey: "mcp.id"] = .string(handle) }
            logger.info("mcp.request", metadata: ["mcp.era": .string(callEra.label)])
            var context = context
            context.logger = logger
            guard id != nil else {
                await notified(call, context)
                return Response(status: 202)
            }
            return try await answer(call, id: id, era: callEra, request, context)
        } catch let failure as MCPWire.Failure {
            return MCPWire.response(id: id, error: failure)
        } catch {
            return MCPWire.response(id: id, error: Self.failure(error, era: era, context))
        }
    }

    struct Call {
        var method: String
        var params: [String: JSONValue]
        var meta: [String: JSONValue]
    }

    static func parse(_ message: [String: JSONValue]) throws -> Call {
        guard message["jsonrpc"] == "2.0" else {
            throw MCPWire.Failure(status: 400, code: MCPWire.invalidRequest, message: #"Not JSON-RPC 2.0: "jsonrpc" must be "2.0"."#)
        }
        guard case .string(let method)? = message["method"], !method.isEmpty else {
            if message["result"] != nil || message["error"] != nil {
                // An answer to a request this server did not send.
                throw MCPWire.Failure(status: 400, code: MCPWire.invalidRequest, message: "This answers no request this server sent.")
            }
            throw MCPWire.Failure(status: 400, code: MCPWire.invalidRequest, message: #""method" must be a non-empty string."#)
        }
        if let id = message["id"], MCPWire.handle(id) == nil {
            throw MCPWire.Failure(status: 400, code: MCPWire.invalidRequest,
                                  message: #""id" must be a string or an integer (MCP allows no null id)."#)
        }
        var params: [String: JSONValue] = [:]
        switch message["params"] {
        case nil: break
        case .object(let object)?: params = object
        default: throw MCPWire.Failure(status: 400, code: MCPWire.invalidParams, message: #""params" must be an object."#)
        }
        return Call(method: method, params: params, meta: params["_meta"]?.objectValue ?? [:])
    }

    /// Which era a message belongs to, with the stateless revision's checks: its version in `_meta` and in the
    /// `MCP-Protocol-Version` header, and the `Mcp-Method` and `Mcp-Name` headers equal to the body's.
    static func era(_ request: Request, _ call: Call) throws -> MCPWire.Era {
        let header = request.headers[.mcpProtocolVersion]
        let declared: String? = if case .string(let version)? = call.meta[MCPWire.metaVersion] { version } else { nil }
        let modern = call.method == "server/discover" || declared != nil || header.map(MCPWire.modernVersions.contains) == true
        guard modern, call.method != "initialize" else {
            // `initialize` carries no header; later requests carry what it agreed (none: 2025-03-26).
            if let header, call.method != "initialize", !MCPWire.handshakeVersions.contains(header) {
                throw MCPWire.Failure(status: 400, code: MCPWire.unsupportedVersion, message: "Unsupported protocol version \(header.prefix(40)).",
                                      data: ["supported": .array((MCPWire.handshakeVersions + MCPWire.modernVersions).map(JSONValue.string)),
                                             "requested": .string(String(header.prefix(40)))])
            }
            return .handshake(header ?? "2025-03-26")
        }
        let era = MCPWire.Era.modern(declared ?? header ?? "")
        guard let declared, call.meta[MCPWire.metaCapabilities] != nil else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams,
                                          "params._meta must carry \(MCPWire.metaVersion) and \(MCPWire.metaCapabilities).")
        }
        guard header == declared else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.headerMismatch,
                                          "The MCP-Protocol-Version header (\(header?.prefix(40) ?? "missing")) does not match params._meta (\(declared.prefix(40))).")
        }
        guard request.headers[.mcpMethod] == call.method else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.headerMismatch,
                                          "The Mcp-Method header (\(request.headers[.mcpMethod]?.prefix(60) ?? "missing")) does not match the body's method.")
        }
        let named: String? = switch call.method {
        case "tools/call", "prompts/get": if case .string(let name)? = call.params["name"] { name } else { nil }
        case "resources/read": if case .string(let uri)? = call.params["uri"] { uri } else { nil }
        default: nil
        }
        if let named, request.headers[.mcpName] != named {
            throw MCPWire.Failure.refusal(era, code: MCPWire.headerMismatch,
                                          "The Mcp-Name header (\(request.headers[.mcpName]?.prefix(60) ?? "missing")) does not match the body's name.")
        }
        guard MCPWire.modernVersions.contains(declared) else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.unsupportedVersion, "Unsupported protocol version.", data: [
                "supported": .array(MCPWire.modernVersions.map(JSONValue.string)), "requested": .string(String(declared.prefix(40))),
            ])
        }
        return era
    }

    /// Notifications get a 202 whatever they say; a cancel stops the run its request id names, on whichever worker.
    func notified(_ call: Call, _ context: RequestContext) async {
        guard call.method == "notifications/cancelled", allowed("runs:write", context),
              let requested = call.params["requestId"], let handle = MCPWire.handle(requested) else { return }
        do {
            if let run = try await engine.cancelCall(scope: Self.scope(context), handle: handle) {
                context.logger.info("mcp.cancelled", metadata: ["run.id": .string(run.id)])
            }
        } catch {
            context.logger.warning("mcp.cancel_failed", metadata: ["error": "\(error)"])
        }
    }

    func answer(_ call: Call, id: JSONValue?, era: MCPWire.Era, _ request: Request, _ context: RequestContext) async throws -> Response {
        func result(_ object: [String: JSONValue], list: Bool = false) -> Response {
            var object = object
            if era.isModern {
                object["resultType"] = "complete"
                if list {
                    object["ttlMs"] = 0
                    object["cacheScope"] = "private"
                }
            }
            return .json(MCPWire.message(id: id, result: .object(object)))
        }
        switch call.method {
        case "initialize":
            let asked: String? = if case .string(let version)? = call.params["protocolVersion"] { version } else { nil }
            let version = asked.flatMap { MCPWire.handshakeVersions.contains($0) ? $0 : nil } ?? MCPWire.handshakeVersions.last!
            var response = Response.json(MCPWire.message(id: id, result: [
                "protocolVersion": .string(version),
                "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": serverInfo,
                "instructions": "Each tool is an agent of this server: send it a message, get its answer.",
            ]))
            if let session = try await sessionID(call, version: version, context: context) {
                response.headers.append(HTTPField(name: .mcpSessionID, value: session))
            }
            return response
        case "server/discover":
            return result([
                "supportedVersions": .array(MCPWire.modernVersions.map(JSONValue.string)),
                "capabilities": ["tools": ["listChanged": false]],
                "instructions": "Each tool is an agent of this server: send it a message, get its answer.",
                "_meta": [MCPWire.metaServerInfo: serverInfo],
            ], list: true)
        case "ping":
            return result([:])
        case "tools/list":
            try require("agents:read", context)
            let all = try await AgentResolver(catalog: dependencies.catalog, reader: engine.reader).all(tenant: context.tenant)
            return result(["tools": .array(all.map(MCPWire.tool))], list: true)
        case "tools/call":
            try require("runs:write", context)
            return try await callTool(call, id: id, era: era, request, context)
        default:
            throw MCPWire.Failure.refusal(era, code: MCPWire.methodNotFound, "Method not found: \(call.method.prefix(100))",
                                          data: .string(String(call.method.prefix(100))))
        }
    }

    var serverInfo: JSONValue { ["name": "agentfcgi", "version": .string(dependencies.version)] }

    /// The key's tenant scopes the cancel handles: a client cannot cancel another key's calls by guessing ids.
    static func scope(_ context: RequestContext) -> String { context.principal?.keyID ?? "" }

    func allowed(_ scope: String, _ context: RequestContext) -> Bool {
        guard dependencies.requireKeys else { return true }
        return context.principal?.allows(scope) == true
    }

    func require(_ scope: String, _ context: RequestContext) throws {
        guard allowed(scope, context) else { throw APIError.lacksScope(scope) }
    }

    static func failure(_ error: any Error, era: MCPWire.Era?, _ context: RequestContext) -> MCPWire.Failure {
        switch error {
        case let error as APIError:
            return .of(error, era: era)
        case let error as any RunProblemConvertible:
            return .of(APIError(error.problem), era: era)
        case is CancellationError, is ClientDisconnected:
            return MCPWire.Failure(status: 200, code: MCPWire.requestCancelled, message: "Request cancelled")
        default:
            context.logger.error("request.failed", metadata: ["error": "\(String(reflecting: error))", "path": "/mcp"])
            return .of(APIError.internalError(requestID: context.requestID), era: era)
        }
    }
}

extension MCPWire.Era {
    var label: String {
        switch self {
        case .handshake(let version), .modern(let version): version
        }
    }
}
