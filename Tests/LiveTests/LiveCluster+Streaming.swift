import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport

struct TimedFrame: Sendable {
    var frame: SSEFrame
    var at: ContinuousClock.Instant
}

struct StreamResult: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var frames: [TimedFrame]

    var events: [String] { frames.map(\.frame.event) }

    func json(_ event: String) -> [Any] {
        frames.filter { $0.frame.event == event }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.frame.data.utf8))
        }
    }

    var runID: String? {
        (json("metadata").first as? [String: Any])?["run_id"] as? String
    }

    /// The streamed assistant tokens of `messages` (messages-tuple) events, in order.
    var tokens: [String] {
        json("messages").compactMap { ($0 as? [Any])?.first as? [String: Any] }
            .filter { $0["type"] as? String == "AIMessageChunk" }
            .compactMap { $0["content"] as? String }
    }
}

extension LiveCluster {
    /// POSTs and reads the event stream frame by frame, stamping each frame with its arrival time.
    /// When `until` returns false the client stops and closes its connection at once.
    /// POSTs and reads the event stream frame by frame, stamping each frame with its arrival time and
    /// showing the frames so far to `onFrame` as each one arrives.
    func stream(_ path: String, body: String, headers: [(String, String)] = [],
                onFrame: @escaping @Sendable ([TimedFrame]) -> Void = { _ in }) async throws -> StreamResult {
        var request = try HTTPClient.Request(url: baseURL + path, method: .POST, body: .string(body))
        request.headers.add(name: "Content-Type", value: "application/json")
        if !apiKey.isEmpty { request.headers.add(name: "X-Api-Key", value: apiKey) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await client.execute(request: request, delegate: StreamingDelegate(onFrame: onFrame)).futureResult.get()
    }

    /// As `stream`, with the async client: cancelling the task ends the request (its client leaves), which `stream`
    /// cannot do.
    func cancellableStream(_ path: String, body: String,
                           onFrame: @escaping @Sendable ([TimedFrame]) -> Void = { _ in }) async throws -> StreamResult {
        let response = try await client.execute(request(.POST, path, body: body), timeout: .seconds(60))
        var result = StreamResult(status: Int(response.status.code), headers: response.headers, frames: [])
        var parser = SSEParser()
        for try await buffer in response.body {
            let now = ContinuousClock.now
            for frame in parser.feed(buffer.readableBytesView) {
                result.frames.append(TimedFrame(frame: frame, at: now))
                onFrame(result.frames)
            }
        }
        return result
    }

    /// Log lines of all workers that contain every one of `needles`.
    func logLines(containing needles: String...) -> [String] {
        allLogs.split(separator: "\n").map(String.init).filter { line in needles.allSatisfy { line.contains($0) } }
    }

    /// Waits until `condition` holds, checking every 10 ms; the bound only matters when the test is failing.
    func waitUntil(_ what: @autoclosure () -> String, timeout: Duration = .seconds(30),
                   _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw LiveError("\(what()) did not happen within \(timeout); logs:\n\(allLogs.suffix(3000))") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until some worker logs a line with all `needles`, and returns it.
    func waitForLog(_ needles: String..., timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = allLogs.split(separator: "\n").first(where: { line in needles.allSatisfy { line.contains($0) } }) {
                return String(line)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw LiveError("no log line with \(needles) within \(timeout); logs:\n\(allLogs.suffix(3000))")
    }
}

/// The UTC timestamp at the start of a worker log line.
func logTimestamp(_ line: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return line.split(separator: " ").first.flatMap { formatter.date(from: String($0)) }
}

func runBody(agent: String, message: String, extra: String = "") -> String {
    let escaped = String(data: try! JSONSerialization.data(withJSONObject: [message], options: [.fragmentsAllowed]), encoding: .utf8)!
        .dropFirst().dropLast()
    return #"{"assistant_id":"\#(agent)","input":{"messages":[{"role":"user","content":\#(escaped)}]}\#(extra)}"#
}

/// Reads an event stream as it arrives.
final class StreamingDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = StreamResult

    let onFrame: @Sendable ([TimedFrame]) -> Void
    private var parser = SSEParser()
    private var current = StreamResult(status: 0, headers: [:], frames: [])

    init(onFrame: @escaping @Sendable ([TimedFrame]) -> Void) {
        self.onFrame = onFrame
    }

    func didReceiveHead(task: HTTPClient.Task<StreamResult>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        current.status = Int(head.status.code)
        current.headers = head.headers
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<StreamResult>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let now = ContinuousClock.now
        for frame in parser.feed(buffer.readableBytesView) {
            current.frames.append(TimedFrame(frame: frame, at: now))
            onFrame(current.frames)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<StreamResult>) throws -> StreamResult {
        current
    }
}
