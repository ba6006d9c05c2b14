import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Logging
import Synchronization
import TestSupport

/// The application as `main` builds it, over an in-memory catalog.
func makeTestApp(
    agents: [AgentDefinition] = [
        AgentDefinition(id: "echo", name: "Echo", description: "repeats", instructions: "Be brief.",
                        model: ModelSettings(tokenDelay: .zero), metadata: ["tier": .string("demo")]),
        AgentDefinition(id: "slow", model: ModelSettings(tokenDelay: .milliseconds(50))),
    ],
    heartbeat: Duration = .seconds(15),
    clock: any Clock<Duration> = ContinuousClock()
) -> Application {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return makeApp(Dependencies(catalog: AgentCatalog(agents: agents), clock: clock, logger: logger, heartbeat: heartbeat))
}

func jsonRequest(_ method: String, _ path: String, _ body: String, contentType: String = "application/json") -> Request {
    Request(method: HTTPRequest.Method(method)!, path: path, headers: [.contentType: contentType],
            requestID: "req-test", body: Array(body.utf8))
}

/// Collects what a streamed body writes; optionally fails like a client that left after `failAfter` writes.
final class CollectingWriter: ResponseBodyWriter, Sendable {
    private let state = Mutex<(bytes: [UInt8], writes: Int)>(([], 0))
    let failAfter: Int?

    /// Each write that went through, in order: a test waits here for a frame instead of sleeping.
    let written = Recorder<[UInt8]>()

    init(failAfter: Int? = nil) { self.failAfter = failAfter }

    func write(_ bytes: [UInt8]) async throws {
        try state.withLock { state in
            if let failAfter, state.writes >= failAfter { throw ClientDisconnected() }
            state.bytes += bytes
            state.writes += 1
        }
        written.append(bytes)
    }

    /// Waits until a frame of `event` has been written.
    func waitForFrame(_ event: String) async throws {
        let line = Array("event: \(event)\n".utf8)
        try await waiting(for: "a '\(event)' frame") { [written] in
            await written.wait { $0.contains { $0.firstRange(of: line) != nil } }
        }
    }

    var text: String { String(decoding: state.withLock { $0.bytes }, as: UTF8.self) }
    var writes: Int { state.withLock { $0.writes } }
}

/// The whole body: the bytes, or what the stream writes until it ends.
func bodyText(_ response: Response, writer: CollectingWriter = CollectingWriter()) async throws -> String {
    switch response.body {
    case .bytes(let bytes): return String(decoding: bytes, as: UTF8.self)
    case .stream(_, let body):
        try await body(writer)
        return writer.text
    }
}

func jsonObject(_ response: Response) async throws -> [String: Any] {
    let text = try await bodyText(response)
    return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

func parseSSE(_ text: String) -> [SSEFrame] {
    SSEParser.parseAll(text).filter { $0.event != ":" }
}

import Testing
