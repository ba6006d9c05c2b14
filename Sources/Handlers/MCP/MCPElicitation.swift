import AgentRuntime
import Foundation
import Runs
import Store

/// Approvals asked in the handshake era (2025-06-18, 2025-11-25), where a server may send requests on a call's event
/// stream. This server keeps no session, so what a client declared in `initialize` (that it can show forms) comes back
/// with each request in the signed `Mcp-Session-Id` it was given. A call whose run pauses sends one
/// `elicitation/create` per waiting call, named by a signed id; the client posts each answer to any worker, which
/// records it in the store; the call's worker finds the answers there and carries them out in a new run, which the
/// same stream follows.
extension MCPEndpoints {
    static let elicitingVersions: Set<String> = ["2025-06-18", "2025-11-25"]

    /// `initialize` from a client that can show forms: a session id that says so. Other clients get none, as before.
    func sessionID(_ call: Call, version: String, context: RequestContext) async throws -> String? {
        guard Self.elicitingVersions.contains(version), case .object(let capabilities)? = call.params["capabilities"],
              case .object(let elicitation)? = capabilities["elicitation"], elicitation.isEmpty || elicitation["form"] != nil
        else { return nil }
        return MCPSession(key: Self.scope(context), elicitation: true)
            .sealed(with: try await engine.sharedSecret(named: MCPApprovalState.secretName))
    }

    /// Whether this handshake-era call may ask its client for approvals: it reads events and sends the session id its
    /// `initialize` got, under the same key.
    func asksInStream(_ request: Request, era: MCPWire.Era, context: RequestContext) async -> Bool {
        guard case .handshake(let version) = era, Self.elicitingVersions.contains(version), Self.acceptsEvents(request),
              let token = request.headers[.mcpSessionID],
              let secret = try? await engine.sharedSecret(named: MCPApprovalState.secretName),
              let session = MCPSession.opened(token, secret: secret) else { return false }
        return session.elicitation && session.key == Self.scope(context)
    }

    /// What a paused run waits for, when it is an approval this call may ask about.
    func pendingApproval(_ run: RunRecord) async throws -> (ApprovalRequest, ThreadRecord)? {
        guard let threadID = run.threadID, let thread = try await engine.reader.thread(threadID), let pending = thread.pendingApproval,
              pending.id == run.id, let request = ApprovalRequest.decode(pending.body), request.breakpoint == nil, !request.reviewed.isEmpty
        else { return nil }
        return (request, thread)
    }

    /// How long a call's stream waits for its forms' answers before it answers that the approval still waits (it
    /// stays on its thread, where any client may answer it): a paused call holds no run, so no limit counts it.
    static let answerWait = Duration.seconds(15 * 60)

    enum Asked {
        case answered([String: JSONValue])
        /// A form came back dismissed (or as an error): the approval stands.
        case dismissed
        /// Answered another way, or expired, while the call waited.
        case closed
        /// Nobody answered within `answerWait`.
        case unanswered
    }

    /// Sends the forms and waits for their answers, which the client posts to any worker (`recordAnswer`). Throws
    /// `CancellationError` when the client leaves.
    func ask(_ approval: ApprovalRequest, thread: ThreadRecord, tool: String, era: MCPWire.Era, context: RequestContext,
             send: ([UInt8]) async throws -> Void) async throws -> Asked {
        let state = MCPApprovalState(approval: approval.id, thread: Tenancy.publicID(thread.id), key: Self.scope(context), tool: tool)
        let token = state.sealed(with: try await engine.sharedSecret(named: MCPApprovalState.secretName))
        let forms = MCPApprovals.forms(approval, threadID: state.thread, mode: era == .handshake("2025-11-25"))
        for form in forms {
            try await send(MCPWire.request(id: .string(form.key + "@" + token), method: "elicitation/create", params: form.params))
        }
        let scope = Self.answerScope(state.key)
        var answers: [String: String] = [:]
        defer {
            let (engine, taken) = (engine, answers)
            Task { for (key, answer) in taken { await engine.forgetAnswer(scope: scope, approval: approval.id, form: key, answer: answer) } }
        }
        let started = ContinuousClock.now
        var lastCheck = started
        // Woken when an answer is recorded, on this worker or another; a look every second besides.
        let ended: Asked? = try await engine.waitingForAnswers(to: approval.id) { wait in
            while answers.count < forms.count {
                await wait()
                try Task.checkCancellation()
                // A store that does not answer for a moment is asked again at the next turn; the wait's bound ends it.
                for form in forms where answers[form.key] == nil {
                    answers[form.key] = try? await engine.answer(scope: scope, approval: approval.id, form: form.key)
                }
                if answers.values.contains(where: { Self.dismissed($0) }) { return .dismissed }
                if ContinuousClock.now - started >= Self.answerWait { return .unanswered }
                guard ContinuousClock.now - lastCheck >= .seconds(1) else { continue }
                lastCheck = .now
                if approval.expired(at: Date()) { return .closed }
                if let now = try? await engine.reader.thread(thread.id), now.pendingApproval?.id != approval.id { return .closed }
            }
            return nil
        }
        if let ended { return ended }
        return .answered(answers.compactMapValues { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) })
    }

    static func dismissed(_ answer: String) -> Bool {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(answer.utf8)) else { return false }
        return object["action"] == "cancel"
    }

    /// Answers are kept apart from the call handles (scope: the key id): a request id cannot name one.
    static func answerScope(_ key: String) -> String { "answers/" + key }

    /// A call whose approval closed while it waited: what became of it is on the thread.
    static func closed(_ approval: ApprovalRequest, threadID: String, era: MCPWire.Era) -> JSONValue {
        var result: [String: JSONValue] = [
            "content": [["type": "text", "text": .string("The approval this call waited for was answered another way, or expired, while it waited: "
                + "thread \(threadID) shows what became of it.")]],
            "structuredContent": ["run_id": .string(approval.id), "thread_id": .string(threadID), "status": "approval_closed",
                                  "usage": MCPWire.usage(Usage())],
            "isError": false,
        ]
        if era.isModern { result["resultType"] = "complete" }
        return .object(result)
    }

    /// A client's answer to one of the forms (a JSON-RPC response to an `elicitation/create` this server sent), posted
    /// to any worker: checked (the id's signature, the key) and recorded for the worker that asked. An error answer
    /// counts as the form dismissed.
    func recordAnswer(_ message: [String: JSONValue], requestID: String, _ context: RequestContext) async -> Response {
        func refused(_ status: Int, _ text: String) -> Response {
            MCPWire.response(id: message["id"], error: .init(status: status, code: MCPWire.invalidRequest, message: text))
        }
        guard allowed("runs:write", context) else { return refused(403, "Answering the server's requests needs the scope runs:write.") }
        let parts = requestID.split(separator: "@", maxSplits: 1)
        guard parts.count == 2, let secret = try? await engine.sharedSecret(named: MCPApprovalState.secretName),
              let state = MCPApprovalState.opened(String(parts[1]), secret: secret), state.key == Self.scope(context) else {
            return refused(400, "This answers no request this server sent to this key.")
        }
        // A form of the approval the thread still waits for.
        guard let thread = try? await engine.reader.thread(context.threadKey(state.thread)), let pending = thread.pendingApproval,
              pending.id == state.approval, let approval = ApprovalRequest.decode(pending.body),
              approval.reviewed.indices.map(MCPApprovals.key).contains(String(parts[0])) else {
            return refused(400, "This answers no form of an approval that still waits.")
        }
        let answer: JSONValue = switch (message["result"], message["error"]) {
        case (.object(let result)?, nil): .object(result)
        case (nil, .some): ["action": "cancel"]
        default: .null
        }
        guard case .object = answer else { return refused(400, #"An answer carries a "result" object or an "error"."#) }
        let text = String(decoding: encodeJSON(answer), as: UTF8.self)
        // A form's answer is a decision, a reason and maybe edited arguments.
        guard text.utf8.count <= 256 * 1024 else { return refused(413, "An answer to a form is at most 256 KiB.") }
        do {
            try await engine.recordAnswer(scope: Self.answerScope(state.key), approval: state.approval, form: String(parts[0]), answer: text)
        } catch {
            return MCPWire.response(id: message["id"], error: Self.failure(error, era: nil, context))
        }
        context.logger.info("mcp.answer_recorded", metadata: ["approval": .string(state.approval), "form": .string(String(parts[0]))])
        return Response(status: 202)
    }
}
