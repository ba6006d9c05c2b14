import AgentRuntime
import Foundation
import Runs

/// The progress values as LangGraph's server sends them (`langgraph/pregel/debug.py`, the API's `stream.py`):
/// a task encodes as the `tasks` mode's start, a result as its result, a checkpoint as the `checkpoints` mode's
/// payload; `summary` is the thread stream's checkpoint, `debug` wraps any of them for the `debug` mode.
/// Keys LangGraph always sends are sent as `null` when empty, since clients index them.
extension LangGraphProgress.Task: Encodable {
    enum CodingKeys: String, CodingKey { case id, name, input, triggers }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(StateValues(stored: input), forKey: .input)
        try container.encode(triggers, forKey: .triggers)
    }
}

extension LangGraphProgress.TaskResult: Encodable {
    enum CodingKeys: String, CodingKey { case id, name, error, result, interrupts }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task.id, forKey: .id)
        try container.encode(task.name, forKey: .name)
        try container.encode(error, forKey: .error)
        // The channels the node wrote: ours writes `messages`, once per step (a failed step wrote nothing).
        try container.encode(messages.isEmpty ? [:] : ["messages": messages], forKey: .result)
        try container.encode(interrupts, forKey: .interrupts)
    }
}

extension LangGraphProgress.Checkpoint: Encodable {
    /// `{"configurable": {thread_id, checkpoint_ns, checkpoint_id}}`, as a checkpoint's `config` names it.
    struct Config: Encodable {
        var configurable: Reference
    }

    /// A checkpoint as the `debug` mode and the thread state name it.
    struct Reference: Encodable {
        var thread_id: String?
        var checkpoint_ns = ""
        var checkpoint_id: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(thread_id, forKey: .thread_id)
            try container.encode(checkpoint_ns, forKey: .checkpoint_ns)
            try container.encode(checkpoint_id, forKey: .checkpoint_id)
        }

        enum CodingKeys: String, CodingKey { case thread_id, checkpoint_ns, checkpoint_id }
    }

    struct Metadata: Encodable {
        var source: Source
        var step: Int
        var parents: [String: String] = [:]
    }

    /// A next task as a checkpoint lists it: not started, so no result, no interrupts; `state` is for subgraphs.
    struct PendingTask: Encodable {
        var id: String
        var name: String
        var interrupts: [LangGraphProgress.Interrupt] = []

        enum CodingKeys: String, CodingKey { case id, name, interrupts, state }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)
            try container.encode(interrupts, forKey: .interrupts)
            try container.encodeNil(forKey: .state)
        }
    }

    /// The thread stream's checkpoint: `{id, parent_id, step, source}` (the protocol's `Checkpoint`).
    struct Summary: Encodable {
        var id: String
        var parent_id: String?
        var step: Int
        var source: Source
    }

    var summary: Summary { Summary(id: id, parent_id: parentID, step: step, source: source) }

    var reference: Reference { Reference(thread_id: threadID, checkpoint_id: id) }
    var parentReference: Reference? { parentID.map { Reference(thread_id: threadID, checkpoint_id: $0) } }

    enum CodingKeys: String, CodingKey {
        case config, parent_config, values, metadata, next, tasks, checkpoint, parent_checkpoint
    }

    func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, debug: false)
    }

    /// The `debug` mode's payload adds `checkpoint` and `parent_checkpoint`, as LangGraph's server does.
    func encode(to encoder: any Encoder, debug: Bool) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Config(configurable: reference), forKey: .config)
        try container.encode(parentReference.map(Config.init), forKey: .parent_config)
        try container.encode(StateValues(stored: values), forKey: .values)
        try container.encode(Metadata(source: source, step: step), forKey: .metadata)
        try container.encode(next, forKey: .next)
        try container.encode(tasks.map { PendingTask(id: $0.id, name: $0.name) }, forKey: .tasks)
        if debug {
            try container.encode(reference, forKey: .checkpoint)
            try container.encode(parentReference, forKey: .parent_checkpoint)
        }
    }
}

/// The `debug` mode's frame: `{step, timestamp, type, payload}` around a checkpoint, a task or a task's result.
struct LangGraphDebugFrame: Encodable {
    var item: LangGraphProgress.Item
    /// When it happened, as far as a re-rendered log can tell: see `LangGraphRenderer.createdAt`.
    var timestamp: String

    enum CodingKeys: String, CodingKey { case step, timestamp, type, payload }

    struct DebugCheckpoint: Encodable {
        var checkpoint: LangGraphProgress.Checkpoint
        func encode(to encoder: any Encoder) throws { try checkpoint.encode(to: encoder, debug: true) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(timestamp, forKey: .timestamp)
        switch item {
        case .checkpoint(let checkpoint):
            try container.encode(checkpoint.step, forKey: .step)
            try container.encode("checkpoint", forKey: .type)
            try container.encode(DebugCheckpoint(checkpoint: checkpoint), forKey: .payload)
        case .taskStarted(let task):
            try container.encode(task.step, forKey: .step)
            try container.encode("task", forKey: .type)
            try container.encode(task, forKey: .payload)
        case .taskFinished(let result):
            try container.encode(result.task.step, forKey: .step)
            try container.encode("task_result", forKey: .type)
            try container.encode(result, forKey: .payload)
        }
    }

    /// ISO 8601 in UTC with microseconds and `+00:00`, as Python's `datetime.isoformat()` writes LangGraph's.
    static func timestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):"
            + "\(pad(parts.second, 2)).\(pad(Int(fraction), 6))+00:00"
    }
}
