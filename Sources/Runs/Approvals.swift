import AgentRuntime
import Foundation
import Store

/// What a run paused for: the calls of its last turn that wait for a person (with what may be decided about each),
/// kept on the thread until a run answers them, and logged as the run's `interrupt`. The dialects render it
/// (LangGraph: LangChain's `action_requests` / `review_configs`).
public struct ApprovalRequest: Codable, Sendable, Equatable {
    /// The paused run's id: one pause per run, since the run ends there.
    public var id: String
    public var agentID: String
    /// Every call of the paused turn, in the model's order; `decisions` is empty for a call that needs no approval
    /// (it runs when the turn resumes, whatever is decided about the others).
    public var calls: [Call]
    /// After this the approval counts as rejected (milliseconds since 1970).
    public var expiresAt: Int64
    /// A breakpoint the run stopped at (`interrupt_before` / `interrupt_after`), not an approval its tools asked for:
    /// the step it stopped before. Going on without decisions approves every call.
    public var breakpoint: RunResult.Step?

    public struct Call: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var arguments: String
        public var description: String
        public var decisions: [ApprovalPolicy.Decision]

        public var needsApproval: Bool { !decisions.isEmpty }
    }

    enum CodingKeys: String, CodingKey {
        case id, agentID = "agent_id", calls, expiresAt = "expires_at", breakpoint
    }

    public var reviewed: [Call] { calls.filter(\.needsApproval) }

    public func expired(at now: Date) -> Bool { Int64(now.timeIntervalSince1970 * 1000) >= expiresAt }

    public init(runID: String, agent: AgentDefinition, calls: [ToolCall], now: Date, breakpoint: RunResult.Step? = nil) {
        id = runID
        agentID = agent.id
        self.breakpoint = breakpoint
        var timeout = Duration.seconds(30 * 86_400)
        self.calls = calls.map { call in
            // At a breakpoint before the tools, every call of the turn is the person's to decide.
            let policy = agent.approvals[call.name] ?? (breakpoint == .tools ? ApprovalPolicy(timeout: .seconds(30 * 86_400)) : nil)
            if let policy { timeout = min(timeout, policy.timeout) }
            return Call(id: call.id, name: call.name, arguments: call.arguments,
                        description: agent.tool(call.name)?.spec.description ?? "", decisions: policy?.decisions ?? [])
        }
        expiresAt = Int64(now.timeIntervalSince1970 * 1000) + timeout.wholeMilliseconds
    }

    public var json: JSONText { String(decoding: encodeJSON(self), as: UTF8.self) }
    public var value: JSONValue { (try? JSONDecoder().decode(JSONValue.self, from: Data(encodeJSON(self)))) ?? .null }

    public static func decode(_ text: JSONText) -> ApprovalRequest? {
        try? JSONDecoder().decode(ApprovalRequest.self, from: Data(text.utf8))
    }

    public static func decode(_ value: JSONValue) -> ApprovalRequest? {
        try? JSONDecoder().decode(ApprovalRequest.self, from: Data(encodeJSON(value)))
    }
}

/// A person's answer to one call that waits for approval, as a dialect read it.
public enum ApprovalAnswer: Sendable, Equatable {
    case approve
    case edit(name: String, arguments: JSONValue)
    case reject(message: String)

    var kind: ApprovalPolicy.Decision {
        switch self {
        case .approve: .approve
        case .edit: .edit
        case .reject: .reject
        }
    }
}

extension RunEngine {
    /// The decisions a run carries out for the approval `thread` waits for: one answer per call that needs approval,
    /// in the order they were asked; each of a kind the tool allows; an edit's arguments checked against the tool's
    /// schema. Past its deadline an approval counts as rejected, whatever the answers. Throws `RunProblem`s (409 when
    /// nothing waits or another approval does, 422 for answers that do not fit).
    public func decisions(for thread: ThreadRecord, answering id: String?, answers: [ApprovalAnswer]) throws -> (approval: String, decisions: ToolDecisions) {
        guard let pending = thread.pendingApproval, let request = ApprovalRequest.decode(pending.body) else {
            throw StoreError.approvalNotPending(threadID: thread.id).problem
        }
        if let id, id != request.id {
            throw RunProblem(status: 409, code: "nothing_to_resume",
                             message: "Thread '\(Tenancy.publicID(thread.id).prefix(100))' waits for approval '\(request.id)', not '\(id.prefix(100))'.",
                             field: "command", retryable: false)
        }
        let reviewed = request.reviewed
        // Going on from a breakpoint without decisions: every call as the model asked.
        if request.breakpoint != nil, answers.isEmpty {
            return (request.id, ToolDecisions(Dictionary(uniqueKeysWithValues: reviewed.map { ($0.id, ToolDecision.approve) })))
        }
        if request.expired(at: Date()) {
            return (request.id, ToolDecisions(Dictionary(uniqueKeysWithValues: reviewed.map {
                ($0.id, ToolDecision.reject(message: "the approval expired before anyone answered it"))
            })))
        }
        guard answers.count == reviewed.count else {
            throw RunProblem(status: 422, code: "invalid_request",
                             message: "command.resume: \(answers.count) decision(s) for \(reviewed.count) tool call(s) waiting for approval; send one per action request, in order.",
                             field: "command.resume.decisions")
        }
        var decisions: [String: ToolDecision] = [:]
        let agent = catalog.agent(request.agentID)
        for (index, (call, answer)) in zip(reviewed, answers).enumerated() {
            let field = "command.resume.decisions[\(index)]"
            guard call.decisions.contains(answer.kind) else {
                throw RunProblem(status: 422, code: "invalid_request",
                                 message: "\(field): '\(answer.kind.rawValue)' is not allowed for \(call.name); allowed: \(call.decisions.map(\.rawValue).joined(separator: ", ")).",
                                 field: field)
            }
            switch answer {
            case .approve:
                decisions[call.id] = .approve
            case .reject(let message):
                decisions[call.id] = .reject(message: String(message.prefix(4000)))
            case .edit(let name, let arguments):
                guard name == call.name else {
                    throw RunProblem(status: 422, code: "invalid_request",
                                     message: "\(field).edited_action.name: '\(name.prefix(64))' is not the tool asked for ('\(call.name)'); an edit changes the arguments only.",
                                     field: "\(field).edited_action.name")
                }
                guard case .object = arguments else {
                    throw RunProblem(status: 422, code: "invalid_request", message: "\(field).edited_action.args: must be an object.",
                                     field: "\(field).edited_action.args")
                }
                if let schema = agent?.tool(call.name)?.spec.parameters {
                    let violations = JSONSchemaValidator.validate(arguments, against: schema, path: "\(field).edited_action.args")
                    if let first = violations.first {
                        throw RunProblem(status: 422, code: "invalid_request", message: "\(first)", field: "\(field).edited_action.args")
                    }
                }
                decisions[call.id] = .edit(arguments: String(decoding: encodeJSON(arguments), as: UTF8.self))
            }
        }
        return (request.id, ToolDecisions(decisions))
    }

    /// A new input on a thread whose approval expired: the calls answered as rejected (tool messages, before the
    /// input), so the run may start. nil when nothing waits; throws `approval_pending` while the approval stands.
    public func expiredAnswers(for thread: ThreadRecord) throws -> (approval: String, messages: [ChatMessage])? {
        guard let pending = thread.pendingApproval else { return nil }
        guard let request = ApprovalRequest.decode(pending.body), request.expired(at: Date()) else {
            throw StoreError.approvalPending(threadID: thread.id, approvalID: pending.id).problem
        }
        let text = ToolDecision.rejection("the approval expired before anyone answered it")
        return (request.id, request.calls.map { call in
            ChatMessage(id: makeID(), role: .tool, content: "error: " + (call.needsApproval ? text : "not run: the turn waited for an approval that expired"),
                        name: call.name, toolCallID: call.id)
        })
    }
}
