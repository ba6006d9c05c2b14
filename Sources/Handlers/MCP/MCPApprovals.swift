import AgentRuntime
import Crypto
import Foundation
import Runs
import Store

/// Approvals asked of an MCP client that can show forms. In the stateless revision (2026-07-28) a call whose run pauses
/// answers `input_required`, one form per waiting call and a request state naming only the approval; the client retries
/// the call with the forms' answers, and whichever worker gets the retry carries them out. In the handshake era the
/// call's event stream sends `elicitation/create` requests; the client's answers may reach any worker, which records
/// them in the store, where the call's worker finds them. States and request ids are signed with a secret all workers
/// share, and bound to the caller's key and the tool called.
struct MCPApprovalState: Codable, Equatable {
    /// The paused run's id (the approval's).
    var approval: String
    /// The thread's public id.
    var thread: String
    /// The caller's key id ("" without keys).
    var key: String
    var tool: String

    static let secretName = "mcp-request-state"
    static let prefix = "v1."

    func sealed(with secret: [UInt8]) -> String { MCPSeal.seal(self, prefix: Self.prefix, secret: secret) }

    /// The state a token holds, when this deployment signed it unaltered.
    static func opened(_ token: String, secret: [UInt8]) -> MCPApprovalState? { MCPSeal.open(token, prefix: prefix, secret: secret) }
}

/// A handshake-era session, without state on the server: what the client declared in `initialize` (that it can show
/// forms) travels in the `Mcp-Session-Id` it sends back, signed. Only such a client gets one.
struct MCPSession: Codable, Equatable {
    var key: String
    var elicitation: Bool

    static let prefix = "s1."

    func sealed(with secret: [UInt8]) -> String { MCPSeal.seal(self, prefix: Self.prefix, secret: secret) }
    static func opened(_ token: String, secret: [UInt8]) -> MCPSession? { MCPSeal.open(token, prefix: prefix, secret: secret) }
}

/// `prefix` + base64url(JSON) + "." + base64url(HMAC-SHA256 over prefix and JSON): the prefix keeps one kind of token
/// from passing for another.
enum MCPSeal {
    static func seal(_ value: some Encodable, prefix: String, secret: [UInt8]) -> String {
        let payload = encodeJSON(value)
        let mac = HMAC<SHA256>.authenticationCode(for: prefix.utf8 + payload, using: SymmetricKey(data: secret))
        return prefix + base64URL(payload) + "." + base64URL(Array(mac))
    }

    static func open<T: Decodable>(_ token: String, prefix: String, secret: [UInt8]) -> T? {
        guard token.utf8.count <= 4096, token.hasPrefix(prefix) else { return nil }
        let parts = token.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        // Only the one spelling of each part: base64's spare bits could otherwise spell the same bytes another way.
        guard parts.count == 2, let payload = bytes(parts[0]), let mac = bytes(parts[1]),
              base64URL(payload) == parts[0], base64URL(mac) == parts[1],
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: prefix.utf8 + payload, using: SymmetricKey(data: secret))
        else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(payload))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func bytes(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }
}

enum MCPApprovals {
    /// Whether the client can show a form: its `elicitation` capability, either empty (form, as 2025-06-18 meant it)
    /// or naming `form`.
    static func elicits(_ call: MCPEndpoints.Call) -> Bool {
        guard case .object(let capabilities)? = call.meta[MCPWire.metaCapabilities],
              case .object(let elicitation)? = capabilities["elicitation"] else { return false }
        return elicitation.isEmpty || elicitation["form"] != nil
    }

    /// The input request key of the `index`th call waiting for approval.
    static func key(_ index: Int) -> String { "decision-\(index + 1)" }

    /// One form per call waiting for approval, in the order the model asked, as `inputRequests`.
    static func inputRequests(_ request: ApprovalRequest, threadID: String) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: forms(request, threadID: threadID, mode: true).map {
            ($0.key, ["method": "elicitation/create", "params": $0.params])
        }))
    }

    /// The `elicitation/create` params of each call waiting for approval, by input request key. `mode` exists from
    /// 2025-11-25 on.
    static func forms(_ request: ApprovalRequest, threadID: String, mode: Bool) -> [(key: String, params: JSONValue)] {
        request.reviewed.enumerated().map { index, call in
            var properties: [String: JSONValue] = [
                "decision": ["type": "string", "title": "Decision", "enum": .array(call.decisions.map { .string($0.rawValue) }),
                             "description": .string(decisionHelp(call.decisions))],
            ]
            if call.decisions.contains(.reject) {
                properties["message"] = ["type": "string", "title": "Reason", "description": "For reject: what the agent is told."]
            }
            if call.decisions.contains(.edit) {
                properties["arguments"] = ["type": "string", "title": "Edited arguments",
                                           "description": "For edit: the arguments to run the tool with, as a JSON object."]
            }
            var params: [String: JSONValue] = [
                "message": .string(message(request, call, threadID: threadID)),
                "requestedSchema": ["type": "object", "properties": .object(properties), "required": ["decision"]],
            ]
            if mode { params["mode"] = "form" }
            return (key(index), .object(params))
        }
    }

    /// Arguments a form shows at most; longer ones are cut, and the form says so first (the model wrote them: what
    /// follows the cut is what a person must not approve unseen).
    static let shownArguments = 4000

    static func message(_ request: ApprovalRequest, _ call: ApprovalRequest.Call, threadID: String) -> String {
        let about = call.description.isEmpty ? "" : " (\(call.description.prefix(300)))"
        let count = call.arguments.count
        let warning = count <= shownArguments ? ""
            : "The arguments are longer than this form shows (\(count) characters, the first \(shownArguments) below): read them in the state of thread \(threadID) before you approve.\n\n"
        return warning + "The agent \(request.agentID) asks to run the tool \(call.name)\(about) with these arguments:\n\n"
            + call.arguments.prefix(shownArguments) + (count <= shownArguments ? "" : " [cut]") + "\n\nAllow it?"
    }

    static func decisionHelp(_ allowed: [ApprovalPolicy.Decision]) -> String {
        allowed.map { decision in
            switch decision {
            case .approve: "approve: run it as asked"
            case .edit: "edit: run it with the edited arguments"
            case .reject: "reject: do not run it (the agent is told the reason)"
            }
        }.joined(separator: "; ")
    }

    /// The forms' answers as one decision per call waiting for approval; nil when the person dismissed a form (the
    /// approval then stays pending). A form declined counts as rejected.
    static func answers(_ value: JSONValue?, for request: ApprovalRequest, era: MCPWire.Era) throws -> [ApprovalAnswer]? {
        guard case .object(let responses)? = value else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "params.inputResponses must be an object: the answers to the input requests, by key.")
        }
        let expected = Set(request.reviewed.indices.map(key))
        if let stray = responses.keys.sorted().first(where: { !expected.contains($0) }) {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "params.inputResponses: '\(stray.prefix(60))' is not an input request of this call.")
        }
        var answers: [ApprovalAnswer] = []
        for (index, call) in request.reviewed.enumerated() {
            let field = "params.inputResponses.\(key(index))"
            func refused(_ text: String) -> MCPWire.Failure { .refusal(era, code: MCPWire.invalidParams, "\(field)\(text)") }
            guard case .object(let response)? = responses[key(index)] else { throw refused(" is missing: answer every input request.") }
            let content = response["content"]?.objectValue ?? [:]
            let message: String? = if case .string(let text)? = content["message"] { text } else { nil }
            switch response["action"] {
            case "cancel":
                return nil
            case "decline":
                answers.append(.reject(message: message ?? "The user declined."))
            case "accept":
                switch content["decision"] {
                case "approve":
                    answers.append(.approve)
                case "reject":
                    answers.append(.reject(message: message ?? ""))
                case "edit":
                    guard case .string(let text)? = content["arguments"],
                          let arguments = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                        throw refused(".content.arguments must be the edited arguments as JSON text.")
                    }
                    answers.append(.edit(name: call.name, arguments: arguments))
                default:
                    throw refused(".content.decision must be one of: \(call.decisions.map(\.rawValue).joined(separator: ", ")).")
                }
            default:
                throw refused(".action must be accept, decline or cancel.")
            }
        }
        return answers
    }
}

extension MCPEndpoints {
    /// The answer to a call whose run paused for approval: `input_required` for a client of the stateless revision
    /// that can show forms; nil for any other (the result then says where to answer it).
    func inputRequired(_ run: RunRecord, call: Call, era: MCPWire.Era, context: RequestContext) async throws -> JSONValue? {
        guard era.isModern, MCPApprovals.elicits(call), case .string(let tool)? = call.params["name"],
              let (request, thread) = try await pendingApproval(run) else { return nil }
        // No expiry of its own: an answer after the approval's deadline counts as a rejection, as on every route.
        let threadID = Tenancy.publicID(thread.id)
        let state = MCPApprovalState(approval: request.id, thread: threadID, key: Self.scope(context), tool: tool)
        return [
            "resultType": "input_required",
            "inputRequests": MCPApprovals.inputRequests(request, threadID: threadID),
            "requestState": .string(state.sealed(with: try await engine.sharedSecret(named: MCPApprovalState.secretName))),
        ]
    }

    /// A retried call carrying the forms' answers: the approval its state names is answered by a new run on the thread,
    /// served as the call's answer (which may ask again, should the agent want another approved tool).
    func answerInputRequests(_ call: Call, id: JSONValue?, era: MCPWire.Era, _ request: Request, _ context: RequestContext) async throws -> Response {
        guard era.isModern else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "params.requestState and params.inputResponses belong to protocol version 2026-07-28.")
        }
        guard case .string(let token)? = call.params["requestState"],
              let state = MCPApprovalState.opened(token, secret: try await engine.sharedSecret(named: MCPApprovalState.secretName)),
              case .string(let tool)? = call.params["name"], state.tool == tool, state.key == Self.scope(context) else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "params.requestState is not one this server gave this key for this tool.")
        }
        let threadID = context.threadKey(state.thread)
        guard let thread = try await engine.reader.thread(threadID), let pending = thread.pendingApproval, pending.id == state.approval,
              let approval = ApprovalRequest.decode(pending.body) else {
            throw MCPWire.Failure.of(APIError(status: 409, code: "nothing_to_resume",
                                              detail: "Thread \(state.thread) waits for approval \(state.approval) no longer (answered already, or cancelled)."), era: era)
        }
        guard let answers = try MCPApprovals.answers(call.params["inputResponses"], for: approval, era: era) else {
            // Dismissed: the approval stands, and the result says so (asking again would only loop).
            var result = Self.waiting(runID: approval.id, threadID: state.thread, calls: approval.reviewed.map { ($0.name, $0.arguments) }, usage: Usage())
            result["resultType"] = "complete"
            return .json(MCPWire.message(id: id, result: .object(result)))
        }
        let (run, local) = try await resume(thread, approval: state.approval, answers: answers, tool: tool, call: call, id: id, era: era,
                                            request, context)
        return try await serve(run, local, call: call, id: id, era: era, request, context)
    }

    /// Starts the run that carries out `answers` to the approval `thread` waits for, as the call's run.
    func resume(_ thread: ThreadRecord, approval: String, answers: [ApprovalAnswer], tool: String, call: Call, id: JSONValue?,
                era: MCPWire.Era, _ request: Request, _ context: RequestContext) async throws -> (RunRecord, LocalRun) {
        guard let resolved = try await AgentResolver(catalog: dependencies.catalog, reader: engine.reader).resolve(tool, tenant: context.tenant) else {
            throw MCPWire.Failure.refusal(era, code: MCPWire.invalidParams, "Unknown tool '\(tool.prefix(100))'; tools/list names them.")
        }
        let (answered, decisions) = try engine.decisions(for: thread, answering: approval, answers: answers)
        var job = RunJob(agentID: resolved.agent.id, input: [], streamModes: [], onDisconnect: .cancel)
        job.origin = "mcp"
        if let binding = resolved.binding { job.bind(binding) }
        job.answer(decisions)
        var facts: [String: JSONValue] = ["request_id": id ?? .null, "protocol_version": .string(era.label)]
        if case .object(let client)? = call.meta["io.modelcontextprotocol/clientInfo"] { facts["client"] = .object(client) }
        let metadata = ThreadRunEndpoints.stampingDecision(String(decoding: encodeJSON(["mcp": JSONValue.object(facts)]), as: UTF8.self),
                                                           approval: answered, decider: context.principal?.keyID)
        var order = RunOrder(job: job, thread: .existing(thread.id), metadata: metadata, request: Self.kept(request.body),
                             quota: context.principal?.quota, logger: context.logger)
        order.answersApproval = answered
        return try await engine.start(order)
    }

    /// The request as its run keeps it: without the request state, a token that only its key may use but nobody
    /// reading the run needs.
    static func kept(_ body: [UInt8]) -> String {
        guard case .object(var message)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body)),
              case .object(var params)? = message["params"], params["requestState"] != nil else { return String(decoding: body, as: UTF8.self) }
        params["requestState"] = nil
        message["params"] = .object(params)
        return String(decoding: encodeJSON(JSONValue.object(message)), as: UTF8.self)
    }

    /// A paused call's result where no form can be shown: where and how to answer the approval.
    static func waiting(runID: String, threadID: String, calls: [(name: String, arguments: String)], usage: Usage) -> [String: JSONValue] {
        let text = "The agent waits for approval before running \(calls.map { "\($0.name) \($0.arguments)" }.joined(separator: "; ")). "
            + "Answer it on thread \(threadID) with POST /threads/{thread_id}/runs and command.resume (approve, edit or reject)."
        return [
            "content": [["type": "text", "text": .string(text)]],
            "structuredContent": ["run_id": .string(runID), "thread_id": .string(threadID), "status": "waiting_for_approval",
                                  "usage": MCPWire.usage(usage),
                                  "approval": ["id": .string(runID),
                                               "calls": .array(calls.map { .object(["name": .string($0.name), "arguments": .string($0.arguments)]) })]],
            "isError": false,
        ]
    }
}
