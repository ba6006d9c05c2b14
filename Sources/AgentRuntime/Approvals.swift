/// Tools a person approves before they run (`approvals:` of an agent): a turn that calls one stops the run before any
/// of its calls, and the run's thread waits for the decisions.
public struct ApprovalPolicy: Sendable, Equatable {
    public enum Decision: String, Sendable, Codable, CaseIterable {
        case approve, edit, reject
    }

    /// How long the decision may wait; after it, the calls count as rejected.
    public var timeout: Duration
    public var decisions: [Decision]

    public static let defaultTimeout = Duration.seconds(24 * 3600)

    public init(timeout: Duration = Self.defaultTimeout, decisions: [Decision] = Decision.allCases) {
        self.timeout = timeout
        self.decisions = decisions
    }
}

/// A person's answer to one call that waited for approval.
public enum ToolDecision: Sendable, Equatable, Codable {
    case approve
    /// Runs the call with these arguments (a JSON object's text) instead of the model's.
    case edit(arguments: String)
    case reject(message: String)

    /// What the model reads as the result of a rejected call.
    public static func rejection(_ message: String) -> String {
        "The user rejected this tool call" + (message.isEmpty ? "." : ": " + message)
    }
}

/// A run that resumes a paused turn: the turn's calls (the last assistant message's) run as decided; calls that
/// needed no approval run as they are.
public struct ToolDecisions: Sendable, Equatable, Codable {
    /// By tool call id.
    public var decisions: [String: ToolDecision]

    public init(_ decisions: [String: ToolDecision]) {
        self.decisions = decisions
    }
}
