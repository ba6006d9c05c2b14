/// LangGraph's stream modes: which frames a reader of a run gets, rendered from its typed log by `LangGraphRenderer`.
enum StreamMode: String, Decodable, CaseIterable {
    case values, messages, messagesTuple = "messages-tuple", updates, custom

    init(from decoder: any Decoder) throws {
        self = try decodeEnum(decoder, Self.self)
    }
}

/// `stream_mode` is a single mode or a list of them.
struct StreamModes: Decodable {
    var modes: [StreamMode]

    init(_ modes: [StreamMode]) { self.modes = modes }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let mode = StreamMode(rawValue: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: unknownValue(text, StreamMode.self))
            }
            modes = [mode]
        } else {
            modes = try container.decode([StreamMode].self)
        }
    }
}
