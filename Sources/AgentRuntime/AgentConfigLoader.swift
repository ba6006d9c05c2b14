import Foundation
import Yams

/// A configuration mistake, said so that the reader can find and fix it: file, agent, field, what is wrong.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var field: String
    public var message: String

    public var description: String {
        field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    }
}

/// Reads the agents YAML file. Unknown keys are errors: a typo must not silently fall back to a default.
public enum AgentConfigLoader {
    public static func load(path: String) throws -> AgentCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, field: "", message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, field: "", message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> AgentCatalog {
        let raw: RawConfig
        do {
            raw = try YAMLDecoder().decode(RawConfig.self, from: text)
        } catch let error as DecodingError {
            throw ConfigError(file: file, field: error.fieldPath, message: error.reason)
        } catch {
            throw ConfigError(file: file, field: "", message: "not valid YAML: \(error)")
        }
        var seen: Set<String> = []
        var agents: [AgentDefinition] = []
        for (index, agent) in raw.agents.enumerated() {
            let field = "agents[\(index)]"
            guard isValidID(agent.id) else {
                throw ConfigError(file: file, field: "\(field).id",
                                  message: "'\(agent.id)' is not a valid id (1-64 of a-z, 0-9, '-', '_', starting with a letter or digit)")
            }
            guard seen.insert(agent.id).inserted else {
                throw ConfigError(file: file, field: "\(field).id", message: "duplicate agent id '\(agent.id)'")
            }
            let model = agent.model
            guard let provider = ModelSettings.Provider(rawValue: model.provider) else {
                let known = ModelSettings.Provider.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError(file: file, field: "\(field) (\(agent.id)).model.provider",
                                  message: "unknown provider '\(model.provider)'; expected one of: \(known)")
            }
            let delay = model.tokenDelayMs ?? 0
            guard (0...60_000).contains(delay) else {
                throw ConfigError(file: file, field: "\(field) (\(agent.id)).model.token_delay_ms",
                                  message: "must be between 0 and 60000, got \(delay)")
            }
            agents.append(AgentDefinition(
                id: agent.id, name: agent.name, description: agent.description ?? "",
                instructions: agent.instructions ?? "",
                model: ModelSettings(provider: provider, name: model.name ?? provider.rawValue,
                                     tokenDelay: .milliseconds(delay)),
                metadata: agent.metadata ?? [:]
            ))
        }
        if agents.isEmpty {
            throw ConfigError(file: file, field: "agents", message: "at least one agent is required")
        }
        return AgentCatalog(agents: agents)
    }

    static func isValidID(_ id: String) -> Bool {
        guard (1...64).contains(id.utf8.count), let first = id.utf8.first else { return false }
        let allowed: (UInt8) -> Bool = { byte in
            (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2d || byte == 0x5f
        }
        return id.utf8.allSatisfy(allowed) && first != 0x2d && first != 0x5f
    }
}

private struct RawConfig: Decodable {
    var agents: [RawAgent]

    enum CodingKeys: String, CodingKey, CaseIterable { case agents }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        agents = try decoder.container(keyedBy: CodingKeys.self).decode([RawAgent].self, forKey: .agents)
    }
}

private struct RawAgent: Decodable {
    var id: String
    var name: String?
    var description: String?
    var instructions: String?
    var model: RawModel
    var metadata: [String: JSONValue]?

    enum CodingKeys: String, CodingKey, CaseIterable { case id, name, description, instructions, model, metadata }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        instructions = try container.decodeIfPresent(String.self, forKey: .instructions)
        model = try container.decode(RawModel.self, forKey: .model)
        metadata = try container.decodeIfPresent([String: JSONValue].self, forKey: .metadata)
    }
}

private struct RawModel: Decodable {
    var provider: String
    var name: String?
    var tokenDelayMs: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case provider, name, tokenDelayMs = "token_delay_ms"
    }

    init(from decoder: any Decoder) throws {
        try decoder.container(keyedBy: AnyKey.self).rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        provider = try container.decode(String.self, forKey: .provider)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        tokenDelayMs = try container.decodeIfPresent(Int.self, forKey: .tokenDelayMs)
    }
}
