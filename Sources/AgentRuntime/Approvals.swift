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

/// LangGraph's static breakpoints for one run (`interrupt_before` / `interrupt_after`) on the agent's two steps:
/// the run stops before the model's turn (`agent`) or before a turn's tool calls (`tools`), and a later run on the
/// thread goes on from there.
public struct Breakpoints: Sendable, Equatable, Codable {
    public var beforeAgent = false
    public var beforeTools = false
    public var afterTools = false

    public init(beforeAgent: Bool = false, beforeTools: Bool = false, afterTools: Bool = false) {
        self.beforeAgent = beforeAgent
        self.beforeTools = beforeTools
        self.afterTools = afterTools
    }

    public var isEmpty: Bool { !beforeAgent && !beforeTools && !afterTools }

    enum CodingKeys: String, CodingKey {
        case beforeAgent = "before_agent", beforeTools = "before_tools", afterTools = "after_tools"
    }
}
