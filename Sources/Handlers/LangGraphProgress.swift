import AgentRuntime
import Foundation
import Runs

/// A run's progress as LangGraph's Pregel loop reports it (tasks that start and finish, a checkpoint after every
/// step), worked out from the run's typed log. Feed it the log's events in order with `advance`; it yields typed
/// values that a dialect renders: LangGraph's `tasks`, `checkpoints` and `debug` stream modes, the node runs of its
/// `events` mode, and the thread stream's `tasks` and `checkpoints` channels. What it yields depends only on the log,
/// the run's id and its creation time, so every read of the same log yields the same values, ids included.
///
/// Our agent is a one-node loop, drawn as LangGraph's prebuilt ReAct agent: `__start__`, then `agent` (the model's
/// turn) and `tools` (the server's tools) for each turn. LangGraph's step numbers follow: the input checkpoint is
/// step -1, `__start__` step 0, the agent of turn t step 2t-1 and its tools step 2t; a checkpoint after each step
/// names the tasks of the next one.
struct LangGraphProgress: Sendable {
    /// One node's run in one step: what it started from, and its id (stable per run, attempt, node and turn).
    struct Task: Sendable, Equatable {
        var id: String
        /// `agent`, `tools`, or `__start__` (which only a checkpoint names: LangGraph hides it from the task streams).
        var name: String
        var step: Int
        var turn: Int
        /// The state the node reads: every message so far.
        var input: [StoredMessage]
        var triggers: [String]
    }

    /// How a task ended: the messages it wrote, or the run's error, or the interrupts it raised.
    struct TaskResult: Sendable, Equatable {
        var task: Task
        var error: String?
        var messages: [StoredMessage]
        var interrupts: [Interrupt]
    }

    struct Interrupt: Sendable, Equatable, Encodable {
        var value: JSONValue
        var id: String
    }

    /// The state between two steps. `tasks` are those the next step runs (`next` are their names).
    struct Checkpoint: Sendable, Equatable {
        enum Source: String, Sendable, Encodable { case input, loop }

        var id: String
        var parentID: String?
        /// The thread as clients name it; nil for a stateless run.
        var threadID: String?
        var step: Int
        var source: Source
        var values: [StoredMessage]
        var tasks: [Task]

        var next: [String] { tasks.map(\.name) }
    }

    enum Item: Sendable, Equatable {
        case checkpoint(Checkpoint)
        case taskStarted(Task)
        case taskFinished(TaskResult)
    }

    let runID: String
    let createdAt: Date
    /// How many messages at the end of the run's starting state are its input (the rest is the thread's history);
    /// nil when unknown, and then all of it counts as input.
    let inputCount: Int?

    private(set) var attempt = 1
    private(set) var threadID: String?
    /// The run's input, as its `run.started` event has it.
    private(set) var input: [StoredMessage] = []
    /// Every message so far: the state a checkpoint holds.
    private(set) var values: [StoredMessage] = []
    /// The task whose step has started and not finished.
    private(set) var running: Task?
    private var written: [StoredMessage] = []
    private var lastCheckpointID: String?
    /// An agent step finished: its checkpoint waits for the next event, which tells whether a tools step follows
    /// (a turn that called only the caller's tools ends the run instead).
    private var agentFinished: Task?

    init(runID: String, createdAt: Date, inputCount: Int?) {
        self.runID = runID
        self.createdAt = createdAt
        self.inputCount = inputCount
    }

    /// LangGraph's step number of a node's turn.
    static func step(_ node: RunStep, turn: Int) -> Int {
        node == .agent ? 2 * turn - 1 : 2 * turn
    }

    /// An id for something of this run's attempt (a task, a node's run, a model call): the same on every read.
    func id(_ parts: String...) -> String {
        LangGraphID.named([runID, String(attempt)] + parts)
    }

    mutating func advance(_ event: RunLogEvent) -> [Item] {
        var items: [Item] = []
        if let finished = agentFinished {
            agentFinished = nil
            if case .stepStarted(.tools, let turn) = event {
                items.append(checkpoint(after: finished.step, next: [task(.tools, turn: turn)]))
            } else {
                items.append(checkpoint(after: finished.step, next: []))
            }
        }
        switch event {
        case .started(let start):
            // A later attempt starts again from the thread's state: everything is counted anew.
            (attempt, threadID, running, written, lastCheckpointID) = (start.attempt, start.threadID, nil, [], nil)
            let count = min(inputCount ?? start.state.count, start.state.count)
            values = Array(start.state.dropLast(count))
            input = Array(start.state.suffix(count))
            let begin = Task(id: id("task", "__start__", "0"), name: "__start__", step: 0, turn: 0, input: input, triggers: ["__start__"])
            items.append(checkpoint(after: -1, source: .input, next: [begin]))
            values += input
            items.append(checkpoint(after: 0, next: [task(.agent, turn: 1)]))
        case .stepStarted(let node, let turn):
            let started = task(node, turn: turn)
            (running, written) = (started, [])
            items.append(.taskStarted(started))
        case .messageCompleted(let message):
            values.append(message)
            if running != nil { written.append(message) }
        case .stepFinished(let node, let turn):
            guard let task = running, task.name == node.rawValue, task.turn == turn else { break }
            items.append(.taskFinished(TaskResult(task: task, error: nil, messages: written, interrupts: [])))
            running = nil
            if node == .agent {
                agentFinished = task
            } else {
                items.append(checkpoint(after: task.step, next: [self.task(.agent, turn: turn + 1)]))
            }
        case .interrupt(let value):
            guard let task = running else { break }
            let interrupt = Interrupt(value: value, id: id("interrupt", task.name, String(task.turn)))
            items.append(.taskFinished(TaskResult(task: task, error: nil, messages: written, interrupts: [interrupt])))
            running = nil
        case .error(_, let message):
            guard let task = running else { break }
            items.append(.taskFinished(TaskResult(task: task, error: message, messages: written, interrupts: [])))
            running = nil
        case .messageStarted, .messageDelta, .toolStarted, .toolFinished, .toolFailed, .usage, .checkpoint, .end:
            break
        }
        return items
    }

    /// The task of a node's turn, starting from the state as it is now.
    func task(_ node: RunStep, turn: Int) -> Task {
        Task(id: id("task", node.rawValue, String(turn)), name: node.rawValue, step: Self.step(node, turn: turn), turn: turn,
             input: values, triggers: ["branch:to:\(node.rawValue)"])
    }

    private mutating func checkpoint(after step: Int, source: Checkpoint.Source = .loop, next: [Task]) -> Item {
        let id = LangGraphID.checkpoint(createdAt: createdAt, attempt: attempt, step: step,
                                        parts: [runID, String(attempt), "checkpoint", String(step)])
        defer { lastCheckpointID = id }
        return .checkpoint(Checkpoint(id: id, parentID: lastCheckpointID, threadID: threadID, step: step, source: source,
                                      values: values, tasks: next))
    }
}
