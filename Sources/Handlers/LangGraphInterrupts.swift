import AgentRuntime
import Foundation
import Runs
import Store

/// A run paused for approval, as LangGraph's clients read it: an interrupt in the shape LangChain's
/// human-in-the-loop middleware raises (`action_requests`, `review_configs`), which Agent Chat UI renders.
enum LangGraphInterrupts {
    /// `{"id", "value": {"action_requests": [{"name", "args", "description"}], "review_configs": [{"action_name",
    /// "allowed_decisions"}]}}`: the calls that wait, in order; one review config per tool among them.
    static func interrupt(_ request: ApprovalRequest) -> JSONValue {
        var configs: [JSONValue] = []
        var named: Set<String> = []
        let actions: [JSONValue] = request.reviewed.map { call in
            if named.insert(call.name).inserted {
                configs.append(.object(["action_name": .string(call.name),
                                        "allowed_decisions": .array(call.decisions.map { .string($0.rawValue) })]))
            }
            let args = (try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))) ?? .string(call.arguments)
            return .object(["name": .string(call.name), "args": args, "description": .string(call.description)])
        }
        return .object(["id": .string(request.id),
                        "value": .object(["action_requests": .array(actions), "review_configs": .array(configs)])])
    }

    /// The log's interrupt (the engine's `ApprovalRequest`) as LangGraph's; nil for a value this release does not read,
    /// and for a static breakpoint, which LangGraph shows as the next step alone.
    static func interrupt(logged value: JSONValue) -> JSONValue? {
        guard let request = ApprovalRequest.decode(value), request.breakpoint == nil else { return nil }
        return interrupt(request)
    }

    /// The thread's pending approval, when it has one; the interrupt is nil at a static breakpoint.
    static func pending(_ thread: ThreadRecord) -> (request: ApprovalRequest, interrupt: JSONValue?)? {
        guard let body = thread.pendingApproval?.body, let request = ApprovalRequest.decode(body) else { return nil }
        return (request, request.breakpoint == nil ? interrupt(request) : nil)
    }

    /// The step that waits: `tools` for an approval; a breakpoint's step.
    static func step(_ request: ApprovalRequest) -> String { request.breakpoint?.rawValue ?? "tools" }

    /// The task that waits, as the state's `tasks` lists it.
    static func task(_ request: ApprovalRequest, interrupt: JSONValue?) -> JSONValue {
        let step = step(request)
        return .object(["id": .string(taskID(request)), "name": .string(step),
                        "path": .array([.string("__pregel_pull"), .string(step)]), "error": .null,
                        "interrupts": .array(interrupt.map { [$0] } ?? []), "checkpoint": .null, "state": .null, "result": .null])
    }

    static func taskID(_ request: ApprovalRequest) -> String { LangGraphID.named([request.id, "approval", step(request)]) }
}
