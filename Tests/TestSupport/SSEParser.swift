/// One Server-Sent Events frame as a client sees it; comments (`: ping`) are kept as event `:`.
public struct SSEFrame: Equatable, Sendable {
    public var id: String?
    public var event: String
    public var data: String

    public init(id: String?, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }
}

/// Incremental parser: feed bytes as they arrive, get each frame as soon as its blank line is in.
public struct SSEParser: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEFrame] {
        buffer += bytes
        var frames: [SSEFrame] = []
        while let end = Self.frameEnd(in: buffer) {
            let block = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end + 2)
            if let frame = Self.parse(block) { frames.append(frame) }
        }
        return frames
    }

    public static func parseAll(_ text: String) -> [SSEFrame] {
        var parser = SSEParser()
        return parser.feed(Array(text.utf8))
    }

    private static func frameEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 10 && bytes[index + 1] == 10 {
            return index
        }
        return nil
    }

    static func parse(_ block: String) -> SSEFrame? {
        var frame = SSEFrame(id: nil, event: "message", data: "")
        var dataLines: [String] = []
        var comment = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix(":") {
                comment = true
                continue
            }
            let field: Substring, value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                let rest = line[line.index(after: colon)...]
                value = rest.hasPrefix(" ") ? rest.dropFirst() : rest
            } else {
                field = line
                value = ""
            }
            switch field {
            case "id": frame.id = String(value)
            case "event": frame.event = String(value)
            case "data": dataLines.append(String(value))
            default: break
            }
        }
        if dataLines.isEmpty && frame.id == nil {
            return comment ? SSEFrame(id: nil, event: ":", data: "") : nil
        }
        frame.data = dataLines.joined(separator: "\n")
        return frame
    }
}
