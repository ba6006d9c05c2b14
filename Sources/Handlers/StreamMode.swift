/// LangGraph's stream modes: which frames a reader of a run gets, rendered from its typed log by `LangGraphRenderer`.
/// `events` is LangChain's `astream_events` (v2); `tasks`, `checkpoints` and `debug` (both, wrapped) follow the
/// graph's steps (`LangGraphProgress`).
enum StreamMode: String, Decodable, CaseIterable {
    case values, messages, messagesTuple = "messages-tuple", updates, custom, events, tasks, checkpoints, debug

    /// The modes that follow the graph's steps, which a renderer tracks only for a reader of one of them.
    static let progressModes: Set<StreamMode> = [.events, .tasks, .checkpoints, .debug]

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
