import Foundation

/// An agent's long-term memory as its tools see it. The run engine binds one to the store for each run, in the
/// namespace of the run's caller: the runtime knows no store, no tenant and no HTTP. A class: a run passes it down its
/// call chain, where a reference takes less room in the suspended frames than a value.
public protocol MemoryBackend: AnyObject, Sendable {
    /// Keeps a fact; what to tell the model.
    func remember(_ fact: String) async throws -> String
    /// Facts sharing words with the query, best first.
    func recall(_ query: String, limit: Int) async throws -> [String]
}

/// The agent option `memory:`: the `remember` and `recall` tools, and whose memories they reach.
public struct MemorySettings: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        /// The API key that made the run: each key its own memories (the default).
        case key
        /// A field of the thread's metadata (e.g. `user_id`): whoever sets it on a thread reaches those memories.
        case threadMetadata = "thread_metadata"
    }

    public var namespaceFrom: Source
    /// thread_metadata: the metadata field.
    public var field: String?
    /// Facts `recall` answers with at most.
    public var maxResults: Int

    public init(namespaceFrom: Source = .key, field: String? = nil, maxResults: Int = 5) {
        self.namespaceFrom = namespaceFrom
        self.field = field
        self.maxResults = maxResults
    }
}

/// Outside a run there is no caller to remember for (a tool invoked directly, `POST /agents/{id}/tools/.../invoke`).
public final class UnboundMemory: MemoryBackend {
    public let reason: String

    public init(reason: String = "memory works only inside a run") { self.reason = reason }

    public func remember(_ fact: String) async throws -> String { throw ToolError(reason) }
    public func recall(_ query: String, limit: Int) async throws -> [String] { throw ToolError(reason) }
}

public struct RememberTool: Tool {
    public var memory: any MemoryBackend

    public init(memory: any MemoryBackend = UnboundMemory()) { self.memory = memory }

    public let spec = ToolSpec(
        name: "remember",
        description: "Keeps a fact about the user for later conversations (long-term memory). One short, self-contained sentence.",
        parameters: .object([
            "type": "object",
            "properties": .object(["fact": .object(["type": "string", "minLength": 1, "maxLength": 4000,
                                                    "description": "For example: The user's favourite colour is teal."])]),
            "required": .array(["fact"]),
            "additionalProperties": false,
        ]))

    /// The same fact is kept once (its key is derived from its words), so a retried run does not repeat it.
    public var isIdempotent: Bool { true }

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let fact) = arguments["fact"] else { throw ToolError("fact is required") }
        return try await memory.remember(fact)
    }
}

public struct RecallTool: Tool {
    public var memory: any MemoryBackend
    public var maxResults: Int

    public init(memory: any MemoryBackend = UnboundMemory(), maxResults: Int = 5) {
        self.memory = memory
        self.maxResults = maxResults
    }

    public let spec = ToolSpec(
        name: "recall",
        description: "Looks up facts kept with remember. Matches words, not meaning: ask with words the fact would contain.",
        parameters: .object([
            "type": "object",
            "properties": .object(["query": .object(["type": "string", "minLength": 1, "maxLength": 1000,
                                                     "description": "For example: favourite colour"])]),
            "required": .array(["query"]),
            "additionalProperties": false,
        ]))

    public var isIdempotent: Bool { true }

    public func run(_ arguments: [String: JSONValue]) async throws -> String {
        guard case .string(let query) = arguments["query"] else { throw ToolError("query is required") }
        let facts = try await memory.recall(query, limit: maxResults)
        return facts.isEmpty ? "nothing remembered about that" : facts.joined(separator: "\n")
    }
}

extension ConfiguredTool {
    /// A memory tool working for `memory` (the run's caller); any other tool as it is.
    public func bindingMemory(_ memory: any MemoryBackend) -> ConfiguredTool {
        var bound = self
        if tool is RememberTool {
            bound.tool = RememberTool(memory: memory)
        } else if let recall = tool as? RecallTool {
            bound.tool = RecallTool(memory: memory, maxResults: recall.maxResults)
        }
        return bound
    }
}
