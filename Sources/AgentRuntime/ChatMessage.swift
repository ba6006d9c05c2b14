/// One message of a conversation, in the roles every chat API shares.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case system, user, assistant, tool
    }

    public var id: String
    public var role: Role
    public var content: String
    public var name: String?
    public var usage: Usage?
    public var finishReason: String?
    public var modelName: String?
    /// Assistant messages: the tools the model asked to call.
    public var toolCalls: [ToolCall]
    /// Tool messages: the call this message answers.
    public var toolCallID: String?
    /// Images the message carries beside its text: `data:` URLs as sent, or http(s) URLs the model server fetches.
    public var images: [ImageRef] = []

    public init(
        id: String, role: Role, content: String, name: String? = nil,
        usage: Usage? = nil, finishReason: String? = nil, modelName: String? = nil,
        toolCalls: [ToolCall] = [], toolCallID: String? = nil
    ) {
        self.id = id
        self.role = role
        self.content = content
        self.name = name
        self.usage = usage
        self.finishReason = finishReason
        self.modelName = modelName
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

/// An image of a message, by URL: a `data:` URL (kept as it came) or an http(s) URL, which only the model server
/// reads; this server never fetches it.
public struct ImageRef: Sendable, Equatable, Codable {
    public var url: String
    /// OpenAI's `detail` (`auto`, `low`, `high`), passed on.
    public var detail: String?
    /// `file` for a document (a PDF, a text file) sent as a `data:` URL; nil for an image.
    public var kind: Kind?
    /// A document's name, as the model server is told it.
    public var filename: String?

    public enum Kind: String, Sendable, Codable { case file }

    public var isFile: Bool { kind == .file }

    public init(url: String, detail: String? = nil) {
        self.url = url
        self.detail = detail
    }

    /// A document: a `data:` URL and its name.
    public static func file(_ dataURL: String, filename: String?) -> ImageRef {
        var ref = ImageRef(url: dataURL)
        (ref.kind, ref.filename) = (.file, filename)
        return ref
    }
}

/// Token counts of one model call or a whole run.
public struct Usage: Sendable, Equatable, Codable {
    public var inputTokens: Int
    public var outputTokens: Int
    /// True when a count is our estimate (words), because the model server reported none.
    public var estimated: Bool
    public var totalTokens: Int { inputTokens + outputTokens }

    public init(inputTokens: Int = 0, outputTokens: Int = 0, estimated: Bool = false) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.estimated = estimated
    }

    public static func + (lhs: Usage, rhs: Usage) -> Usage {
        Usage(inputTokens: lhs.inputTokens + rhs.inputTokens, outputTokens: lhs.outputTokens + rhs.outputTokens,
              estimated: lhs.estimated || rhs.estimated)
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens", outputTokens = "output_tokens", totalTokens = "total_tokens", estimated
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = try container.decode(Int.self, forKey: .inputTokens)
        outputTokens = try container.decode(Int.self, forKey: .outputTokens)
        estimated = try container.decodeIfPresent(Bool.self, forKey: .estimated) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputTokens, forKey: .inputTokens)
        try container.encode(outputTokens, forKey: .outputTokens)
        try container.encode(totalTokens, forKey: .totalTokens)
        if estimated { try container.encode(true, forKey: .estimated) }
    }
}
