import Foundation

/// Tools an agent gets from outside its configuration file, found when first needed (an MCP server's `tools/list`).
/// The run engine asks for them as a run starts; a source that cannot answer gives none, and the run goes on with
/// the agent's other tools.
public protocol ToolSource: Sendable {
    /// The configured name: its tools are named `<name>__<tool>`.
    var name: String { get }
    /// The tools as the model is offered them (validated like the built-ins, with the source's timeout).
    func tools() async throws -> [ConfiguredTool]
    /// Stops whatever the source started (a child process); it starts again when next needed.
    func shutdown() async
}

extension AgentDefinition {
    /// The agent's tools with those of its sources, as a run or a listing sees them now; a source that fails is
    /// left out (`failed` hears why).
    public func resolvingTools(failed: (String, any Error) -> Void = { _, _ in }) async -> AgentDefinition {
        guard !toolSources.isEmpty else { return self }
        var agent = self
        for source in toolSources {
            do {
                let found = try await source.tools()
                agent.tools += found.filter { tool in
                    !agent.tools.contains { $0.spec.name == tool.spec.name } && (toolFilter?.contains(tool.spec.name) ?? true)
                }
            } catch {
                failed(source.name, error)
            }
        }
        agent.toolSources = []
        return agent
    }
}

/// Schemas from outside (an MCP server's `inputSchema`, an OpenAPI document) lose their `pattern`s: Swift's regular
/// expressions backtrack, and a pattern written for another engine could take a thread for minutes on a model's
/// argument before the tool's timeout even starts. The server checks its own patterns.
public enum ToolSchemas {
    /// Keywords whose members are names, not schemas with keywords.
    static let namedMembers: Set<String> = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]
    /// Keywords whose values are data, left as they are.
    static let data: Set<String> = ["enum", "const", "default", "examples", "example"]

    public static func withoutPatterns(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(let object):
            var result: [String: JSONValue] = [:]
            for (key, value) in object {
                if key == "pattern", case .string = value { continue }
                if data.contains(key) {
                    result[key] = value
                } else if namedMembers.contains(key), case .object(let members) = value {
                    result[key] = .object(members.mapValues(withoutPatterns))
                } else {
                    result[key] = withoutPatterns(value)
                }
            }
            return .object(result)
        case .array(let items): return .array(items.map(withoutPatterns))
        default: return schema
        }
    }
}

/// Names a model can be given for a source's tool: `<source>__<tool>`, within `^[a-zA-Z0-9_-]{1,64}$`, which every
/// provider accepts. Other characters become `_`; a longer name keeps its start and ends in a hash of the whole, so
/// it stays unique and the same on every worker.
public enum ToolNames {
    public static func namespaced(_ source: String, _ tool: String) -> String {
        let full = "\(source)__\(tool)"
        let safe = String(full.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "-") ? Character(scalar) : "_"
        })
        guard safe.count > 64 else { return safe }
        return String(safe.prefix(55)) + "_" + String(format: "%08x", fnv1a(full))
    }

    /// 32-bit FNV-1a: stable across processes and releases, unlike Swift's seeded `Hasher`.
    static func fnv1a(_ text: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }
}
