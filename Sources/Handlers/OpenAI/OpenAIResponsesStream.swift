import AgentRuntime
import Foundation
import Runs

/// A run's typed events as the Responses API's stream: `response.created`, output items with their text deltas and
/// `mcp_call` steps, then `response.completed` (or `.failed` / `.incomplete`). Rendering is deterministic, so the
/// n-th event is the same on every read on every worker: its `sequence_number` is its place in that rendering.
final class ResponsesRenderer: Sendable {
    typealias Event = (type: String, body: [String: JSONValue])

    private struct State {
        var template: ResponsesWire.Response
        var items: [ResponsesWire.Item] = []
        var messageIndex: [String: Int] = [:]
        var texts: [String: String] = [:]
        var callIndex: [String: Int] = [:]
        var callArguments: [String: (name: String, arguments: String)] = [:]
        var started = false
    }
    private let state: MutexBox<State>
    let clientTools: Set<String>
    /// The server's tool calls as function_call and function_call_output items (asked for with `include`).
    let asFunctions: Bool

    /// `template`: the response as it is before the run starts (id, model, metadata, background, status).
    init(template: ResponsesWire.Response, clientTools: Set<String> = [], asFunctions: Bool = false) {
        state = MutexBox(State(template: template))
        self.clientTools = clientTools
        self.asFunctions = asFunctions
    }

    static func value<T: Encodable>(_ value: T) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(encodeJSON(value)))) ?? .null
    }

    /// The events a background response shows before its run has started.
    func queued() -> [Event] {
        state.withLock { state in
            var response = state.template
            response.status = "queued"
            return [("response.queued", ["response": Self.value(response)])]
        }
    }

    func events(_ event: RunLogEvent) -> [Event] {
        state.withLock { state -> [Event] in
            func snapshot(_ status: String) -> JSONValue {
                var response = state.template
                response.status = status
                response.output = state.items
                return Self.value(response)
            }
            switch event {
            case .started:
                // A later attempt (the run retried on another worker) goes on in the same response.
                guard !state.started else { return [] }
                state.started = true
                return [("response.created", ["response": snapshot("in_progress")]),
                        ("response.in_progress", ["response": snapshot("in_progress")])]
            case .messageDelta(let id, let text):
                var events: [Event] = []
                let index: Int
                if let known = state.messageIndex[id] {
                    index = known
                } else {
                    index = state.items.count
                    state.messageIndex[id] = index
                    let item = ResponsesWire.Item.message(id: ResponsesWire.messageItemID(id), status: "in_progress", text: "")
                    state.items.append(item)
                    events.append(("response.output_item.added", ["output_index": .number(Double(index)), "item": Self.value(item)]))
                    events.append(("response.content_part.added", [
                        "item_id": .string(item.id), "output_index": .number(Double(index)), "content_index": 0,
                        "part": Self.value(ResponsesWire.OutputText(text: "")),
                    ]))
                }
                state.texts[id, default: ""] += text
                events.append(("response.output_text.delta", [
                    "item_id": .string(ResponsesWire.messageItemID(id)), "output_index": .number(Double(index)), "content_index": 0,
                    "delta": .string(text), "logprobs": .array([]),
                ]))
                return events
            case .messageCompleted(let message) where message.type == "ai":
                var events: [Event] = []
                let itemID = ResponsesWire.messageItemID(message.id)
                let calls = message.tool_calls ?? []
                if state.messageIndex[message.id] == nil, !message.content.isEmpty || calls.isEmpty {
                    // An answer that came whole rather than in pieces opens its item now.
                    let index = state.items.count
                    state.messageIndex[message.id] = index
                    let item = ResponsesWire.Item.message(id: itemID, status: "in_progress", text: "")
                    state.items.append(item)
                    events.append(("response.output_item.added", ["output_index": .number(Double(index)), "item": Self.value(item)]))
                    events.append(("response.content_part.added", [
                        "item_id": .string(itemID), "output_index": .number(Double(index)), "content_index": 0,
                        "part": Self.value(ResponsesWire.OutputText(text: "")),
                    ]))
                    if !message.content.isEmpty {
                        events.append(("response.output_text.delta", [
                            "item_id": .string(itemID), "output_index": .number(Double(index)), "content_index": 0,
                            "delta": .string(message.content), "logprobs": .array([]),
                        ]))
                    }
                }
                if let index = state.messageIndex[message.id] {
                    let done = ResponsesWire.Item.message(id: itemID, status: "completed", text: message.content)
                    state.items[index] = done
                    let position: JSONValue = .number(Double(index))
                    events.append(("response.output_text.done", [
                        "item_id": .string(itemID), "output_index": position, "content_index": 0, "text": .string(message.content),
                        "logprobs": .array([]),
                    ]))
                    events.append(("response.content_part.done", [
                        "item_id": .string(itemID), "output_index": position, "content_index": 0,
                        "part": Self.value(ResponsesWire.OutputText(text: message.content)),
                    ]))
                    events.append(("response.output_item.done", ["output_index": position, "item": Self.value(done)]))
                }
                for call in calls where clientTools.contains(call.name) || asFunctions {
                    if !clientTools.contains(call.name) {
                        state.callIndex[call.id] = -1
                        state.callArguments[call.id] = (call.name, call.toolCall.arguments)
                    }
                    let index = state.items.count
                    let arguments = call.toolCall.arguments
                    let itemID = ResponsesWire.functionItemID(call.id)
                    let position: JSONValue = .number(Double(index))
                    state.items.append(.functionCall(id: itemID, callID: call.id, status: "in_progress", name: call.name, arguments: ""))
                    events.append(("response.output_item.added", ["output_index": position, "item": Self.value(state.items[index])]))
                    events.append(("response.function_call_arguments.delta", ["item_id": .string(itemID), "output_index": position, "delta": .string(arguments)]))
                    events.append(("response.function_call_arguments.done", ["item_id": .string(itemID), "output_index": position, "arguments": .string(arguments)]))
                    state.items[index] = .functionCall(id: itemID, callID: call.id, status: "completed", name: call.name, arguments: arguments)
                    events.append(("response.output_item.done", ["output_index": position, "item": Self.value(state.items[index])]))
                }
                // The server's own calls show as they start (`toolStarted`): a turn that waits for approval shows
                // approval requests instead, and an item's kind never changes once it is out.
                return events
            case .interrupt(let value):
                // The calls that wait become approval requests, at the places their calls had.
                guard let request = ApprovalRequest.decode(value) else { return [] }
                var events: [Event] = []
                for call in request.reviewed {
                    let item = ResponsesWire.Item.approvalRequest(id: ResponsesWire.approvalItemID(call.id), name: call.name, arguments: call.arguments)
                    let position: JSONValue = .number(Double(state.items.count))
                    state.items.append(item)
                    events.append(("response.output_item.added", ["output_index": position, "item": Self.value(item)]))
                    events.append(("response.output_item.done", ["output_index": position, "item": Self.value(item)]))
                }
                return events
            case .toolStarted(let call) where state.callIndex[call.id] == nil && !asFunctions && !clientTools.contains(call.name):
                let index = state.items.count
                let itemID = ResponsesWire.callItemID(call.id)
                let arguments = call.toolCall.arguments
                state.callIndex[call.id] = index
                state.callArguments[call.id] = (call.name, arguments)
                let item = ResponsesWire.Item.mcpCall(id: itemID, status: "in_progress", name: call.name, arguments: arguments, output: nil, error: nil)
                state.items.append(item)
                let position: JSONValue = .number(Double(index))
                return [("response.output_item.added", ["output_index": position, "item": Self.value(item)]),
                        ("response.mcp_call_arguments.delta", ["item_id": .string(itemID), "output_index": position, "delta": .string(arguments)]),
                        ("response.mcp_call_arguments.done", ["item_id": .string(itemID), "output_index": position, "arguments": .string(arguments)]),
                        ("response.mcp_call.in_progress", ["item_id": .string(itemID), "output_index": position])]
            case .toolFinished(let call, let result):
                return finishCall(&state, call.id, output: result, error: nil)
            case .toolFailed(let call, let error):
                return finishCall(&state, call.id, output: nil, error: error)
            case .checkpoint(_, let usage, _):
                var response = state.template
                response.status = "completed"
                response.output = state.items
                response.usage = ResponsesWire.UsageBody(usage)
                return [("response.completed", ["response": Self.value(response)])]
            case .error(let code, let message):
                let ending = ResponsesWire.ending(code: code)
                var response = state.template
                response.status = ending.status
                response.output = state.items
                if ending.status == "incomplete" { response.incomplete_details = ["reason": code] }
                else if ending.status == "failed" { response.error = ResponsesWire.ErrorBody(code: code, message: message) }
                return [(ending.event, ["response": Self.value(response)])]
            default:
                return []
            }
        }
    }

    private func finishCall(_ state: inout State, _ callID: String, output: String?, error: String?) -> [Event] {
        guard let index = state.callIndex[callID], let call = state.callArguments[callID] else { return [] }
        if asFunctions {
            // The result as the output of the function call shown earlier.
            let position: JSONValue = .number(Double(state.items.count))
            let item = ResponsesWire.Item.functionOutput(id: ResponsesWire.functionOutputItemID(callID), callID: callID,
                                                         output: output ?? "error: " + (error ?? ""))
            state.items.append(item)
            return [("response.output_item.added", ["output_index": position, "item": Self.value(item)]),
                    ("response.output_item.done", ["output_index": position, "item": Self.value(item)])]
        }
        let itemID = ResponsesWire.callItemID(callID)
        let item = ResponsesWire.Item.mcpCall(id: itemID, status: error == nil ? "completed" : "failed", name: call.name,
                                              arguments: call.arguments, output: output, error: error)
        state.items[index] = item
        let position: JSONValue = .number(Double(index))
        return [(error == nil ? "response.mcp_call.completed" : "response.mcp_call.failed", ["item_id": .string(itemID), "output_index": position]),
                ("response.output_item.done", ["output_index": position, "item": Self.value(item)])]
    }

    /// The frame of the event numbered `sequence`.
    static func frame(_ event: Event, sequence: Int) -> (String, [UInt8]) {
        var body = event.body
        body["type"] = .string(event.type)
        body["sequence_number"] = .number(Double(sequence))
        return (event.type, encodeJSON(JSONValue.object(body)))
    }
}
