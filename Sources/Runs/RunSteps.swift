import AgentRuntime
import Synchronization
import Telemetry

/// The messages a run finished and the usage it spent so far: what an interrupted run leaves on its thread.
final class Collected: Sendable {
    private let state = Mutex<(messages: [ChatMessage], usage: Usage, sawEvent: Bool, sawToken: Bool)>(([], Usage(), false, false))
    /// For the time to the first event and to the first token.
    private let agentID: String
    private let started = ContinuousClock.now

    init(agentID: String = "") { self.agentID = agentID }

    func record(_ event: RunEvent) {
        let isToken = if case .messageDelta = event { true } else { false }
        let (firstEvent, firstToken) = state.withLock { state in
            switch event {
            case .messageCompleted(let message): state.messages.append(message)
            case .usage(let usage, _): state.usage = state.usage + usage
            default: break
            }
            let first = (!state.sawEvent, isToken && !state.sawToken)
            state.sawEvent = true
            if isToken { state.sawToken = true }
            return first
        }
        if firstEvent { Metrics.firstEvent(agent: agentID, ContinuousClock.now - started) }
        if firstToken { Metrics.firstToken(agent: agentID, ContinuousClock.now - started) }
    }

    var messages: [ChatMessage] { state.withLock { $0.messages } }
    var usage: Usage { state.withLock { $0.usage } }
}

/// Turns the runtime's events into the log's: the same events, plus where messages start and where each step
/// (the model's turn, then its tools) starts and finishes.
final class StepTracker: Sendable {
    /// Tools the caller runs: the run ends at a call of one, so the server's tools step counts only its own calls.
    let callerTools: Set<String>

    /// `resumingTools`: a run that answers a paused turn starts in its tools step, with that many results to come.
    init(callerTools: Set<String> = [], resumingTools: Int = 0) {
        self.callerTools = callerTools
        state = Mutex(State(pendingTools: resumingTools))
    }

    private struct State {
        var turn = 1
        var started: Set<String> = []
        var pendingTools = 0
    }
    private let state: Mutex<State>

    func events(for event: RunEvent) -> [RunLogEvent] {
        state.withLock { state in
            switch event {
            case .messageDelta(let id, let text):
                return state.started.insert(id).inserted ? [.messageStarted(id: id), .messageDelta(id: id, text: text)]
                    : [.messageDelta(id: id, text: text)]
            case .messageCompleted(let message) where message.role == .assistant:
                var events: [RunLogEvent] = state.started.insert(message.id).inserted ? [.messageStarted(id: message.id)] : []
                events += [.messageCompleted(StoredMessage(message)), .stepFinished(.agent, turn: state.turn)]
                let own = message.toolCalls.filter { !callerTools.contains($0.name) }
                if !own.isEmpty {
                    state.pendingTools = own.count
                    events.append(.stepStarted(.tools, turn: state.turn))
                }
                return events
            case .messageCompleted(let message):
                var events: [RunLogEvent] = [.messageCompleted(StoredMessage(message))]
                state.pendingTools -= 1
                if state.pendingTools == 0 {
                    events.append(.stepFinished(.tools, turn: state.turn))
                    state.turn += 1
                    events.append(.stepStarted(.agent, turn: state.turn))
                }
                return events
            case .usage(let usage, let turn): return [.usage(usage, turn: turn)]
            case .toolStarted(let call): return [.toolStarted(StoredToolCall(call))]
            case .toolFinished(let call, let result): return [.toolFinished(StoredToolCall(call), result: result)]
            case .toolFailed(let call, let error): return [.toolFailed(StoredToolCall(call), error: error)]
            }
        }
    }
}
