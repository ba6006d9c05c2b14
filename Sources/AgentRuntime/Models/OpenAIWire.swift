import Foundation

/// The JSON of OpenAI's `/v1/chat/completions`, as every compatible server (vLLM, Ollama, llama.cpp, LM Studio)
/// speaks it: the request we send and the streamed chunks we read.
enum OpenAIWire {
    struct Request: Encodable {
        var model: String
        var messages: [Message]
        var tools: [Tool]?
        var tool_choice: ToolChoiceValue?
        var stream = true
        var stream_options = StreamOptions()
        var temperature: Double?
        var max_tokens: Int?
        var top_p: Double?
        var stop: [String]?
        var seed: Int?
        var response_format: JSONValue?
    }

    struct StreamOptions: Encodable {
        var include_usage = true
    }

    struct Message: Encodable {
        var role: String
        /// A string (always, even empty: llama.cpp's server answers 500 to an assistant message with tool calls and no
        /// content), or text and image parts when the message has images.
        var content: Content
        var tool_calls: [ToolCallValue]?
        var tool_call_id: String?
        var name: String?

        enum Content: Encodable {
            case text(String)
            case parts([Part])

            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .text(let text): try container.encode(text)
                case .parts(let parts): try container.encode(parts)
                }
            }
        }

        struct Part: Encodable {
            var type: String
            var text: String?
            var image_url: ImageURL?
            var file: File?

            struct ImageURL: Encodable {
                var url: String
                var detail: String?
            }

            struct File: Encodable {
                var file_data: String
                var filename: String?
            }

            init(type: String, text: String? = nil, image_url: ImageURL? = nil, file: File? = nil) {
                (self.type, self.text, self.image_url, self.file) = (type, text, image_url, file)
            }

            init(_ attachment: ImageRef) {
                if attachment.isFile {
                    self.init(type: "file", file: File(file_data: attachment.url, filename: attachment.filename))
                } else {
                    self.init(type: "image_url", image_url: ImageURL(url: attachment.url, detail: attachment.detail))
                }
            }
        }

        init(_ message: ChatMessage) {
            role = message.role.rawValue
            content = message.images.isEmpty ? .text(message.content)
                : .parts((message.content.isEmpty ? [] : [Part(type: "text", text: message.content)])
                    + message.images.map(Part.init))
            tool_calls = message.toolCalls.isEmpty ? nil : message.toolCalls.map {
                ToolCallValue(id: $0.id, function: FunctionCall(name: $0.name, arguments: $0.arguments))
            }
            tool_call_id = message.toolCallID
            name = message.role == .tool ? nil : message.name
        }
    }

    struct ToolCallValue: Encodable {
        var id: String
        var type = "function"
        var function: FunctionCall
    }

    struct FunctionCall: Encodable {
        var name: String
        var arguments: String
    }

    struct Tool: Encodable {
        var type = "function"
        var function: Function

        struct Function: Encodable {
            var name: String
            var description: String
            var parameters: JSONValue
        }

        init(_ spec: ToolSpec) {
            function = Function(name: spec.name, description: spec.description, parameters: spec.parameters)
        }
    }

    /// `"auto"`, `"required"`, `"none"`, or `{"type": "function", "function": {"name": ...}}`.
    struct ToolChoiceValue: Encodable {
        var choice: ToolChoice

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch choice {
            case .auto: try container.encode("auto")
            case .required: try container.encode("required")
            case .none: try container.encode("none")
            case .tool(let name):
                try container.encode(["type": JSONValue.string("function"), "function": ["name": .string(name)]] as [String: JSONValue])
            }
        }
    }

    struct Chunk: Decodable {
        var choices: [Choice]?
        var usage: UsageValue?
        var error: ErrorValue?
    }

    struct Choice: Decodable {
        var delta: Delta?
        var finish_reason: String?
    }

    struct Delta: Decodable {
        var content: String?
        var tool_calls: [ToolCallDelta]?
    }

    struct ToolCallDelta: Decodable {
        var index: Int?
        var id: String?
        var function: FunctionDelta?
    }

    struct FunctionDelta: Decodable {
        var name: String?
        var arguments: String?
    }

    struct UsageValue: Decodable {
        var prompt_tokens: Int?
        var completion_tokens: Int?
    }

    struct ErrorValue: Decodable {
        var message: String?
    }

    /// An error body: `{"error": {"message": ...}}` or `{"error": "..."}` or `{"detail": ...}`.
    static func errorMessage(_ body: [UInt8]) -> String? {
        guard let object = try? JSONDecoder().decode(JSONValue.self, from: Data(body)), case .object(let fields) = object else {
            return nil
        }
        if case .object(let error)? = fields["error"], case .string(let message)? = error["message"] { return message }
        if case .string(let message)? = fields["error"] { return message }
        if case .string(let message)? = fields["detail"] { return message }
        if case .string(let message)? = fields["message"] { return message }
        return nil
    }
}
