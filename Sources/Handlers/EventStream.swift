import HTTPTypes
import Runs
import Synchronization
import Telemetry

/// Server-Sent Events framing. Every frame carries `id: <seq>` so a client can resume with `Last-Event-ID`.
public enum ServerSentEvents {
    public static let contentType = "text/event-stream"
    public static let ping: [UInt8] = Array(": ping\n\n".utf8)

    public static func frame(id: Int?, event: String, data: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(data.count + event.utf8.count + 24)
        if let id {
            frame += Array("id: \(id)\n".utf8)
        }
        frame += Array("event: \(event)\n".utf8)
        // A data field ends at a newline, so a multi-line payload becomes several `data:` lines.
        var lineStart = data.startIndex
        for index in data.indices where data[index] == UInt8(ascii: "\n") {
            frame += Array("data: ".utf8) + data[lineStart..<index] + [UInt8(ascii: "\n")]
            lineStart = index + 1
        }
        frame += Array("data: ".utf8) + data[lineStart...] + Array("\n\n".utf8)
        return frame
    }

    /// A streaming response with the headers that keep nginx and other proxies from buffering it.
    public static func response(
        heartbeat: Duration, headers extra: HTTPFields = [:],
        _ body: @escaping @Sendable (EventStreamWriter) async throws -> Void
    ) -> Response {
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: "no-cache", .xAccelBuffering: "no"]
        headers.append(contentsOf: extra)
        return Response(status: 200, headers: headers, body: .stream(heartbeat: Heartbeat(interval: heartbeat, bytes: ping)) { writer in
            Metrics.streamOpened()
            defer { Metrics.streamClosed() }
            try await body(EventStreamWriter(writer))
        })
    }
}

/// Where a run's renderer sends its frames: straight to a client, or to the run's event log.
protocol EventSink: Sendable {
    func send(_ event: String, data: [UInt8]) async throws
}

extension EventSink {
    func send<T: Encodable>(_ event: String, json: T) async throws {
        try await send(event, data: encodeJSON(json))
    }
}

/// Numbers and writes the frames of one stream. Sendable so a run's event callback can hold it.
public final class EventStreamWriter: EventSink, Sendable {
    private let writer: any ResponseBodyWriter
    private let nextID = Mutex(0)

    init(_ writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    public func send(_ event: String, data: [UInt8]) async throws {
        let id = nextID.withLock { id in
            defer { id += 1 }
            return id
        }
        try await writer.write(ServerSentEvents.frame(id: id, event: event, data: data))
    }

    /// Frames numbered by this stream, one write each.
    func send(_ frames: [(event: String, data: [UInt8])]) async throws {
        for frame in frames { try await send(frame.event, data: frame.data) }
    }

    /// A frame numbered by the caller (a reader of a run's log, which numbers its frames from the log's start).
    func send(_ event: String, data: [UInt8], id: Int) async throws {
        try await writer.write(ServerSentEvents.frame(id: id, event: event, data: data))
    }

    /// A data-only frame (no event name, no id), as OpenAI's streams send them.
    func sendData(_ data: [UInt8]) async throws {
        try await writer.write(Array("data: ".utf8) + data + Array("\n\n".utf8))
    }

    /// A named frame without an id, as OpenAI's Responses streams send them (`sequence_number` is in the data).
    func sendNamed(_ event: String, data: [UInt8]) async throws {
        try await writer.write(ServerSentEvents.frame(id: nil, event: event, data: data))
    }

    /// A frame without an id, for what is not in the log (an `end` for a run whose log is gone).
    func sendUnnumbered(_ event: String, data: [UInt8]) async throws {
        try await writer.write(ServerSentEvents.frame(id: nil, event: event, data: data))
    }
}
