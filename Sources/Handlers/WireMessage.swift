import AgentRuntime
import Foundation
import Runs

/// A message as clients send it: OpenAI style (`role`) or LangChain style (`type`), content as a string or
/// as a list of text parts.
struct InputMessage: Decodable {
    var role: ChatMessage.Role
    var content: String
    var id: String?
    var name: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case role, type, content, id, name
    }

    static let roles: [String: ChatMessage.Role] = [
        "user": .user, "human": .user, "assistant": .assistant, "ai": .assistant,
        "system": .system, "developer": .system,
    ]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.role), container.contains(.type) {
            throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                   debugDescription: "send role (OpenAI style) or type (LangChain style), not both")
        }
        let roleKey: CodingKeys = container.contains(.role) ? .role : .type
        guard container.contains(roleKey) else {
            throw DecodingError.keyNotFound(CodingKeys.role, .init(codingPath: container.codingPath, debugDescription: ""))
        }
        let roleText = try container.decode(String.self, forKey: roleKey)
        guard let role = Self.roles[roleText.lowercased()] else {
            throw DecodingError.dataCorruptedError(
                forKey: roleKey, in: container,
                debugDescription: "unknown role '\(roleText.prefix(40))'; expected one of: user, assistant, system (or human, ai)")
        }
        self.role = role
        guard container.contains(.content) else {
            throw DecodingError.keyNotFound(CodingKeys.content, .init(codingPath: container.codingPath, debugDescription: ""))
        }
        if let text = try? container.decode(String.self, forKey: .content) {
            content = text
        } else if (try? container.nestedUnkeyedContainer(forKey: .content)) != nil {
            content = try container.decode([ContentPart].self, forKey: .content).map(\.text).joined()
        } else {
            throw DecodingError.dataCorruptedError(forKey: .content, in: container,
                                                   debugDescription: "must be a string or a list of text parts")
        }
        id = try container.decodeIfPresent(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
    }

    struct ContentPart: Decodable {
        var text: String

        enum CodingKeys: String, CodingKey { case type, text }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let type = try container.decode(String.self, forKey: .type)
            guard type == "text" else {
                throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                       debugDescription: "content part type '\(type.prefix(40))' is not supported; use 'text'")
            }
            text = try container.decode(String.self, forKey: .text)
        }
    }
}

/// Messages and tool calls as LangGraph serializes LangChain's: the store keeps them in this shape (`Runs`), so the
/// wire and the store agree by construction.
typealias OutputMessage = StoredMessage
typealias WireToolCall = StoredToolCall

/// A streamed piece of an assistant message (LangGraph's `AIMessageChunk`).
struct MessageChunk: Encodable {
    var type = "AIMessageChunk"
    var content: String
    var id: String
    var tool_calls: [WireToolCall]?
}

/// The state an agent run works on: LangGraph's `values`, plus the run's total usage once it has one.
struct StateValues: Encodable {
    var messages: [OutputMessage]
    var usage: Usage?

    init(_ messages: [ChatMessage], usage: Usage? = nil) {
        self.messages = messages.map(OutputMessage.init)
        self.usage = usage
    }

    init(stored messages: [OutputMessage], usage: Usage? = nil) {
        self.messages = messages
        self.usage = usage
    }
}
