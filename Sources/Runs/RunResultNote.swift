import AgentRuntime
import Foundation
import Store

/// What a run ended with, kept as the run's `result`: usage, turns, dropped context, and the error when it failed.
public struct RunResultNote: Codable, Sendable {
    /// nil when the run's spending is unknown here (its worker was lost, it never started).
    public var usage: Usage?
    public var turns: Int?
    public var context: Context?
    public var error: Failure?
    /// The run paused for a person's approval (its status is then `interrupted`, and its thread's too).
    public var approval: ApprovalRequest?

    public struct Context: Codable, Sendable {
        public var dropped_messages: Int

        public init(dropped_messages: Int) { self.dropped_messages = dropped_messages }
    }

    public struct Failure: Codable, Sendable {
        public var error: String
        public var message: String

        init(error: String, message: String) {
            self.error = error
            self.message = message
        }

        init(_ problem: RunProblem) {
            self.init(error: problem.code, message: problem.message)
        }
    }

    var json: JSONText { String(decoding: encodeJSON(self), as: UTF8.self) }

    /// The failure of a finished run, as its record keeps it.
    public static func failure(of run: RunRecord) -> Failure? {
        struct Note: Decodable { var error: Failure? }
        return run.result.flatMap { try? JSONDecoder().decode(Note.self, from: Data($0.utf8)) }?.error
    }

    /// What a run paused for, when it paused for a person's approval.
    public static func approval(of run: RunRecord) -> ApprovalRequest? {
        struct Note: Decodable { var approval: ApprovalRequest? }
        return run.result.flatMap { try? JSONDecoder().decode(Note.self, from: Data($0.utf8)) }?.approval
    }
}

extension ContextWindow.Fit {
    var note: RunResultNote.Context? {
        droppedMessages > 0 ? RunResultNote.Context(dropped_messages: droppedMessages) : nil
    }
}
