import AgentRuntime
import Foundation
import Runs

/// A message as clients send it: OpenAI style (`role`) or LangChain style (`type`), content as a string or
/// as a list of text parts.
struct InputMessage: Decodable {
    var role: ChatMessage.Role
    var content: String
    /// Image parts (`image_url`, LangChain's `image`), checked as the OpenAI routes check them.
    var images: [ImageRef] = []
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
            let parts = try container.decode([ContentPart].self, forKey: .content)
            content = parts.compactMap(\.text).joined()
            images = parts.compactMap(\.image)
        } else {
            throw DecodingError.dataCorruptedError(forKey: .content, in: container,
                                                   debugDescription: "must be a string or a list of content parts")
        }
        id = try container.decodeIfPresent(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
    }

    /// A content part: `text`; an image as OpenAI sends it (`image_url`: a URL, or `{url, detail}`) or as LangChain's
    /// standard block (`image` with `url`, or `base64` / `data` and `mime_type`). `data:` URLs are kept with the
    /// message and passed to the model server; http(s) URLs are passed on, never fetched here.
    struct ContentPart: Decodable {
        var text: String?
        var image: ImageRef?

        enum CodingKeys: String, CodingKey { case type, text, image_url, url, base64, data, mime_type, source_type, detail, file, filename, file_id }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let type = try container.decode(String.self, forKey: .type)
            func image(_ url: String, detail: String?, key: CodingKeys) throws -> ImageRef {
                do {
                    return try OpenAIContent.image(.init(type: "image_url", text: nil, image_url: .init(url: url, detail: detail), detail: nil), path: "")
                } catch let error as APIError {
                    // The same checks as OpenAI's routes, named by this part's field.
                    let detail = error.detail.hasPrefix(".image_url: ") ? String(error.detail.dropFirst(12)) : error.detail
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: detail)
                }
            }
            switch type {
            case "text":
                text = try container.decode(String.self, forKey: .text)
            case "image_url":
                let url = try container.decode(OpenAIContent.ImageURL.self, forKey: .image_url)
                self.image = try image(url.url, detail: url.detail ?? container.decodeIfPresent(String.self, forKey: .detail), key: .image_url)
            case "image":
                if let url = try container.decodeIfPresent(String.self, forKey: .url) {
                    self.image = try image(url, detail: nil, key: .url)
                } else if let data = try container.decodeIfPresent(String.self, forKey: .base64) ?? container.decodeIfPresent(String.self, forKey: .data) {
                    guard let mime = try container.decodeIfPresent(String.self, forKey: .mime_type) else {
                        throw DecodingError.keyNotFound(CodingKeys.mime_type, .init(codingPath: container.codingPath,
                                                                                   debugDescription: "an image given as base64 needs its mime_type"))
                    }
                    self.image = try image("data:\(mime);base64,\(data)", detail: nil, key: .mime_type)
                } else {
                    throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                           debugDescription: "an image part needs url, or base64 with mime_type")
                }
            case "file":
                // OpenAI's shape (`file: {file_data, filename}`) or LangChain's standard block (`base64`/`data`, `mime_type`).
                let nested = try container.decodeIfPresent(OpenAIContent.FileData.self, forKey: .file)
                var data = nested?.file_data
                if data == nil, let base64 = try container.decodeIfPresent(String.self, forKey: .base64) ?? container.decodeIfPresent(String.self, forKey: .data) {
                    guard let mime = try container.decodeIfPresent(String.self, forKey: .mime_type) else {
                        throw DecodingError.keyNotFound(CodingKeys.mime_type, .init(codingPath: container.codingPath,
                                                                                   debugDescription: "a file given as base64 needs its mime_type"))
                    }
                    data = "data:\(mime);base64,\(base64)"
                }
                if data == nil, container.contains(.url) {
                    throw DecodingError.dataCorruptedError(forKey: .url, in: container, debugDescription:
                        "a file is sent as its data (base64 with mime_type, or file.file_data); this server fetches no URLs")
                }
                let filename = try nested?.filename ?? container.decodeIfPresent(String.self, forKey: .filename)
                do {
                    self.image = try OpenAIContent.file(data: data, filename: filename, fileID: nested?.file_id ?? container.decodeIfPresent(String.self, forKey: .file_id), field: "")
                } catch let error as APIError {
                    throw DecodingError.dataCorruptedError(forKey: .file, in: container, debugDescription: error.detail.hasPrefix(": ") ? String(error.detail.dropFirst(2)) : error.detail)
                }
            default:
                throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription:
                    "content part type '\(type.prefix(40))' is not supported; use text, image_url, image or file")
            }
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

/// The state an agent run works on: LangGraph's `values`, plus the run's total usage once it has one, and the state
/// keys a client sent beside the messages.
struct StateValues: Encodable {
    var messages: [OutputMessage]
    var usage: Usage?
    var extra: [String: JSONValue] = [:]

    init(_ messages: [ChatMessage], usage: Usage? = nil, extra: [String: JSONValue]? = nil) {
        self.messages = messages.map(OutputMessage.init)
        self.usage = usage
        self.extra = extra ?? [:]
    }

    init(stored messages: [OutputMessage], usage: Usage? = nil, extra: [String: JSONValue]? = nil) {
        self.messages = messages
        self.usage = usage
        self.extra = extra ?? [:]
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(messages, forKey: AnyKey(stringValue: "messages"))
        if let usage { try container.encode(usage, forKey: AnyKey(stringValue: "usage")) }
        for key in extra.keys.sorted() where key != "messages" && key != "usage" {
            try container.encode(extra[key], forKey: AnyKey(stringValue: key))
        }
    }
}
