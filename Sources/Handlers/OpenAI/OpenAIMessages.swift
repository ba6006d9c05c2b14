import AgentRuntime
import Foundation
import Outbound
import Runs

/// A message of a Chat Completions request: every role, content as a string or a list of parts.
struct OpenAIChatMessage: Decodable {
    var role: String
    var content: OpenAIContent?
    var name: String?
    var tool_calls: [ToolCallBody]?
    var tool_call_id: String?

    struct ToolCallBody: Decodable {
        var id: String
        var type: String?
        var function: Function

        struct Function: Decodable {
            var name: String
            var arguments: String
        }
    }

    static let roles = ["system", "developer", "user", "assistant", "tool"]

    /// The message as the runtime knows it; `path` names it in errors (`messages[2]`).
    func chatMessage(path: String, makeID: () -> String) throws -> ChatMessage {
        guard Self.roles.contains(role) else {
            throw APIError.invalid(field: path + ".role", "unknown role '\(role.prefix(40))'; expected one of: \(Self.roles.joined(separator: ", "))")
        }
        switch role {
        case "user":
            guard let content else { throw APIError.invalid(field: path + ".content", "is required") }
            let (text, images) = try content.parts(path: path + ".content")
            var message = ChatMessage(id: makeID(), role: .user, content: text, name: name)
            message.images = images
            return message
        default: break
        }
        let text = try content?.text(path: path + ".content") ?? ""
        switch role {
        case "assistant":
            let calls = (tool_calls ?? []).map { ToolCall(id: $0.id, name: $0.function.name, arguments: $0.function.arguments) }
            if content == nil, calls.isEmpty { throw APIError.invalid(field: path + ".content", "is required unless tool_calls are given") }
            return ChatMessage(id: makeID(), role: .assistant, content: text, name: name, toolCalls: calls)
        case "tool":
            guard let callID = tool_call_id, !callID.isEmpty else { throw APIError.invalid(field: path + ".tool_call_id", "is required for a tool message") }
            return ChatMessage(id: makeID(), role: .tool, content: text, name: name, toolCallID: callID)
        default:
            guard content != nil else { throw APIError.invalid(field: path + ".content", "is required") }
            return ChatMessage(id: makeID(), role: role == "user" ? .user : .system, content: text, name: name)
        }
    }
}

/// Message content: a string, or parts: text, and images by URL (`data:` URLs are kept, http(s) URLs go to the model
/// server as they are; this server fetches neither). Other parts are refused by name.
enum OpenAIContent: Decodable {
    case text(String)
    case parts([Part])

    struct Part: Decodable {
        var type: String
        var text: String?
        var image_url: ImageURL?
        var detail: String?
        /// Chat Completions' document: `{"file_data": "data:...", "filename"}` (`file_id` names an uploaded file).
        var file: FileData?
        /// The Responses API's `input_file` has the same fields on the part itself.
        var file_data: String?
        var filename: String?
        var file_id: String?
    }

    struct FileData: Decodable {
        var file_data: String?
        var filename: String?
        var file_id: String?
    }

    /// The documents a message may carry, as `data:` URLs (this server keeps no uploaded files to name by id).
    static let fileTypes = ["application/pdf", "text/plain", "text/markdown", "text/csv", "application/json"]

    static func file(data: String?, filename: String?, fileID: String?, field: String) throws -> ImageRef {
        guard fileID == nil else {
            throw APIError.invalid(field: field, "file_id names an uploaded file, and this server keeps none: send the file as file_data (a data: URL)")
        }
        guard let url = data else { throw APIError.invalid(field: field, "file_data is required (a data: URL)") }
        guard url.hasPrefix("data:"), let type = dataURLType(url), fileTypes.contains(type) else {
            throw APIError.invalid(field: field, "a file must be a data: URL, data:(\(fileTypes.joined(separator: "|")));base64,...")
        }
        guard url.utf8.count <= maxImageURLBytes else {
            throw APIError(status: 413, code: "file_too_large", detail: "\(field): a file may be at most \(maxImageURLBytes >> 20) MiB as a data: URL.", field: field)
        }
        if let filename, filename.utf8.count > 255 || filename.contains(where: { $0.isNewline || $0 == "/" || $0 == "\\" }) {
            throw APIError.invalid(field: field + ".filename", "must be a plain name of at most 255 bytes")
        }
        return ImageRef.file(url, filename: filename)
    }

    /// Chat Completions nests `{"url", "detail"}`; the Responses API sends the URL as a string.
    struct ImageURL: Decodable {
        var url: String
        var detail: String?

        init(url: String, detail: String?) { (self.url, self.detail) = (url, detail) }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let url = try? container.decode(String.self) {
                self.url = url
                return
            }
            struct Object: Decodable { var url: String; var detail: String? }
            let object = try container.decode(Object.self)
            (url, detail) = (object.url, object.detail)
        }
    }

    /// The media type of a `data:<type>;base64,...` URL. Read in bytes: as Characters, the comma and a combining
    /// mark after it are one, and the comma would not be found where it is.
    static func dataURLType(_ url: String) -> String? {
        let bytes = url.utf8
        guard bytes.starts(with: "data:".utf8), let comma = bytes.firstIndex(of: UInt8(ascii: ",")) else { return nil }
        let header = String(decoding: bytes[bytes.index(bytes.startIndex, offsetBy: 5)..<comma], as: UTF8.self)
        guard header.hasSuffix(";base64") else { return nil }
        return String(header.dropLast(7))
    }

    /// The largest image a part may carry as a `data:` URL.
    static let maxImageURLBytes = 8 << 20
    static let imageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"]

    static func image(_ part: Part, path: String) throws -> ImageRef {
        guard let url = part.image_url?.url else { throw APIError.invalid(field: path + ".image_url", "is required") }
        let field = path + ".image_url"
        if url.hasPrefix("data:") {
            guard let type = dataURLType(url), imageTypes.contains(type) else {
                throw APIError.invalid(field: field, "a data: URL must be data:image/(png|jpeg|gif|webp);base64,...")
            }
            guard url.utf8.count <= maxImageURLBytes else {
                throw APIError(status: 413, code: "image_too_large", detail: "\(field): an image may be at most \(maxImageURLBytes >> 20) MiB as a data: URL.", field: field)
            }
        } else {
            guard url.utf8.count <= 2048, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                  parsed.host?.isEmpty == false, parsed.user == nil, parsed.password == nil else {
                throw APIError.invalid(field: field, "must be a data: URL or an http(s) URL without credentials (at most 2048 characters)")
            }
            // The model server fetches it, maybe from inside a network: no internal address in any spelling, no localhost.
            let host = (parsed.host ?? "").lowercased()
            do {
                _ = try Outbound.precheck(url, policy: OutboundPolicy())
            } catch {
                throw APIError.invalid(field: field, "must not name an internal address")
            }
            if host == "localhost" || host.hasSuffix(".localhost") {
                throw APIError.invalid(field: field, "must not name an internal address")
            }
        }
        let detail = part.image_url?.detail ?? part.detail
        if let detail, !["auto", "low", "high"].contains(detail) { throw APIError.invalid(field: path + ".detail", "must be auto, low or high") }
        return ImageRef(url: url, detail: detail)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .text(text) } else { self = .parts(try container.decode([Part].self)) }
    }

    func text(path: String) throws -> String {
        let (text, images) = try parts(path: path)
        guard images.isEmpty else { throw APIError.invalid(field: path, "only a user message may carry images or files") }
        return text
    }

    /// The text and the images.
    func parts(path: String) throws -> (String, [ImageRef]) {
        switch self {
        case .text(let text): return (text, [])
        case .parts(let parts):
            var out = ""
            var images: [ImageRef] = []
            for (index, part) in parts.enumerated() {
                switch part.type {
                case "text", "input_text", "output_text":
                    guard let text = part.text else { throw APIError.invalid(field: "\(path)[\(index)].text", "is required") }
                    out += text
                case "image_url", "input_image":
                    images.append(try Self.image(part, path: "\(path)[\(index)]"))
                case "file":
                    images.append(try Self.file(data: part.file?.file_data, filename: part.file?.filename, fileID: part.file?.file_id,
                                                field: "\(path)[\(index)].file"))
                case "input_file":
                    images.append(try Self.file(data: part.file_data, filename: part.filename, fileID: part.file_id, field: "\(path)[\(index)]"))
                default:
                    throw APIError.invalid(field: "\(path)[\(index)].type",
                                           "content parts of type '\(part.type.prefix(40))' are not supported; send text, images or files")
                }
            }
            return (out, images)
        }
    }
}
