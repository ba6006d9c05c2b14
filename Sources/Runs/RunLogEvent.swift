import AgentRuntime
import Foundation
import Store

/// Every event of a run, as the log stores it whatever the reader will ask for: dialects render these (SSE frames
/// of LangGraph's stream modes, OpenAI's response events, MCP notifications) when they read, so that a run started
/// through one dialect is read in full through any other, with any stream modes.
public enum RunLogEvent: Sendable, Equatable {
    /// An attempt began: the state it starts from (the thread's kept history and the input).
    case started(RunStart)
    case stepStarted(RunStep, turn: Int)
    case stepFinished(RunStep, turn: Int)
    /// The first piece of an assistant message is coming.
    case messageStarted(id: String)
    case messageDelta(id: String, text: String)
    case messageCompleted(StoredMessage)
    case toolStarted(StoredToolCall)
    case toolFinished(StoredToolCall, result: String)
    case toolFailed(StoredToolCall, error: String)
    /// One model call's usage; `turn` counts model calls from 1.
    case usage(Usage, turn: Int)
    /// The run's final state, written as the run finishes.
    case checkpoint(state: [StoredMessage], usage: Usage, turns: Int)
    /// The run paused for a person's approval: its `ApprovalRequest`, logged before the run ends.
    case interrupt(JSONValue)
    case error(code: String, message: String)
    case end

    public static let endKind = "run.end"
}

public struct RunStart: Codable, Sendable, Equatable {
    public var runID: String
    /// The thread as clients name it; nil for a stateless run.
    public var threadID: String?
    public var attempt: Int
    /// Earlier messages of the thread left out to fit the context budget.
    public var droppedMessages: Int
    public var state: [StoredMessage]
    /// The state's keys beside the messages (the thread's, with the run's input's), when there are any.
    public var values: [String: JSONValue]?

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", threadID = "thread_id", attempt, droppedMessages = "dropped_messages", state, values
    }
}

/// The two steps of an agent turn, as LangGraph names its nodes.
public enum RunStep: String, Codable, Sendable {
    case agent, tools
}

extension RunLogEvent {
    /// The log's name of each kind. All have a dot: names without one are frames written before the log was typed
    /// (rendered LangGraph SSE), which readers pass through as they are.
    public var kind: String {
        switch self {
        case .started: "run.started"
        case .stepStarted: "step.started"
        case .stepFinished: "step.finished"
        case .messageStarted: "message.started"
        case .messageDelta: "message.delta"
        case .messageCompleted: "message.completed"
        case .toolStarted: "tool.started"
        case .toolFinished: "tool.finished"
        case .toolFailed: "tool.failed"
        case .usage: "run.usage"
        case .checkpoint: "run.checkpoint"
        case .interrupt: "run.interrupt"
        case .error: "run.error"
        case .end: Self.endKind
        }
    }

    public static func isTyped(_ kind: String) -> Bool { kind.contains(".") }

    /// One body shape for every kind: only the fields of the kind are set.
    struct Body: Codable {
        var start: RunStart?
        var step: RunStep?
        var turn: Int?
        var id: String?
        var text: String?
        var message: StoredMessage?
        var tool_call: StoredToolCall?
        var result: String?
        var error: String?
        var usage: Usage?
        var state: [StoredMessage]?
        var turns: Int?
        var value: JSONValue?
        var code: String?
    }

    public func record(seq: Int) -> EventRecord {
        var body = Body()
        switch self {
        case .started(let start): body.start = start
        case .stepStarted(let step, let turn), .stepFinished(let step, let turn): (body.step, body.turn) = (step, turn)
        case .messageStarted(let id): body.id = id
        case .messageDelta(let id, let text): (body.id, body.text) = (id, text)
        case .messageCompleted(let message): body.message = message
        case .toolStarted(let call): body.tool_call = call
        case .toolFinished(let call, let result): (body.tool_call, body.result) = (call, result)
        case .toolFailed(let call, let error): (body.tool_call, body.error) = (call, error)
        case .usage(let usage, let turn): (body.usage, body.turn) = (usage, turn)
        case .checkpoint(let state, let usage, let turns): (body.state, body.usage, body.turns) = (state, usage, turns)
        case .interrupt(let value): body.value = value
        case .error(let code, let message): (body.code, body.text) = (code, message)
        case .end: break
        }
        return EventRecord(seq: seq, event: kind, data: encodeJSON(body))
    }

    public struct Unreadable: Error, CustomStringConvertible {
        public var kind: String
        public var description: String { "a log event '\(kind.prefix(40))' this release does not read" }
    }

    /// A typed event from the log; nil for a frame of the untyped log (written before the upgrade). A kind this
    /// release does not know (written by a newer one) throws `Unreadable`, which readers skip.
    public init?(_ record: EventRecord) throws {
        guard Self.isTyped(record.event) else { return nil }
        let body = try JSONDecoder().decode(Body.self, from: Data(record.data))
        func need<T>(_ value: T?) throws -> T {
            guard let value else { throw Unreadable(kind: record.event) }
            return value
        }
        switch record.event {
        case "run.started": self = .started(try need(body.start))
        case "step.started": self = .stepStarted(try need(body.step), turn: try need(body.turn))
        case "step.finished": self = .stepFinished(try need(body.step), turn: try need(body.turn))
        case "message.started": self = .messageStarted(id: try need(body.id))
        case "message.delta": self = .messageDelta(id: try need(body.id), text: try need(body.text))
        case "message.completed": self = .messageCompleted(try need(body.message))
        case "tool.started": self = .toolStarted(try need(body.tool_call))
        case "tool.finished": self = .toolFinished(try need(body.tool_call), result: try need(body.result))
        case "tool.failed": self = .toolFailed(try need(body.tool_call), error: try need(body.error))
        case "run.usage": self = .usage(try need(body.usage), turn: try need(body.turn))
        case "run.checkpoint": self = .checkpoint(state: try need(body.state), usage: try need(body.usage), turns: try need(body.turns))
        case "run.interrupt": self = .interrupt(body.value ?? .null)
        case "run.error": self = .error(code: try need(body.code), message: try need(body.text))
        case Self.endKind: self = .end
        default: throw Unreadable(kind: record.event)
        }
    }

    /// Whether a log record ends the run's stream: the typed `run.end`, or the untyped log's `end`.
    public static func isEnd(_ record: EventRecord) -> Bool {
        record.event == endKind || record.event == "end"
    }
}
