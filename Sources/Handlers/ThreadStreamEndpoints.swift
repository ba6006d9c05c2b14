import AgentRuntime
import Foundation
import Runs
import Store

/// The thread-centric stream of langgraph-sdk's `client.threads.stream()` (`langchain-protocol`): commands in, and
/// one SSE stream of every run on the thread, read from the runs' event logs, so any worker answers and a reader
/// resumes with `since` after a dropped connection. Plus `GET /threads/{id}/stream` (`threads.join_stream`).
struct ThreadStreamEndpoints {
    let dependencies: Dependencies
    let engine: RunEngine
    var store: StoreReader { engine.reader }

    /// A thread event's number: its run's place in the queue, then its place among the run's events (from 1), so the
    /// numbers grow across runs and every reader computes the same one.
    static let runShift: Int64 = 20
    static let maxPerRun: Int64 = (1 << runShift) - 1

    static func seq(_ run: RunRecord, _ index: Int64) -> Int64 { run.queueSeq << runShift | index }

    /// The runs a cursor still has to read: from the run its number falls in.
    static func start(after seq: Int64) -> ThreadStart { .after(queueSeq: (seq >> runShift) - 1) }

    func register(in router: inout Router) {
        router.add(Route("POST", "/threads/{thread_id}/commands", operationID: "thread_command", access: .scope("runs:write"),
                         summary: "A thread-stream command (run.start, input.respond), as langgraph-sdk's threads.stream() sends it",
                         doc: .threadCommand, handler: .async { request, context in try await command(request, context) }))
        router.add(Route("POST", "/threads/{thread_id}/stream/events", operationID: "thread_stream_events", access: .scope("runs:read"),
                         summary: "Stream every run of a thread on the chosen channels (resume with since)",
                         doc: .threadStreamEvents, handler: .async { request, context in try await events(request, context) }))
        router.add(Route("GET", "/threads/{thread_id}/stream/events", operationID: "thread_stream_events_websocket", access: .scope("runs:read"),
                         summary: "The thread stream over a WebSocket: not available (FastCGI carries no WebSockets)",
                         doc: .threadStreamWebSocket, handler: .async { _, context in
            _ = try await thread(context)
            throw APIError(status: 400, code: "websocket_not_supported",
                           detail: "This server streams threads over Server-Sent Events only (FastCGI carries no WebSockets): use transport=\"sse\", the default.")
        }))
        router.add(Route("GET", "/threads/{thread_id}/stream", operationID: "thread_join_stream", access: .scope("runs:read"),
                         summary: "Stream the events of the thread's runs as they happen (Last-Event-ID resumes, -1 replays)",
                         doc: .threadJoinStream, handler: .async { request, context in try await joinStream(request, context) }))
    }

    /// The thread named by the path, of the caller's tenant.
    func thread(_ context: RequestContext) async throws -> String {
        let threadID = try ThreadEndpoints.threadID(context)
        guard try await store.thread(threadID) != nil else { throw APIError.threadNotFound(threadID) }
        return threadID
    }

    // MARK: - POST /threads/{thread_id}/stream/events

    static let channels: Set<String> = ["lifecycle", "input", "messages", "values", "updates", "tools", "tasks", "checkpoints", "custom"]

    struct Subscription: Decodable {
        var channels: [String]
        var namespaces: [[String]]?
        var depth: Int?
        var since: Int64?
    }

    func events(_ request: Request, _ context: RequestContext) async throws -> Response {
        let body = try request.decodeJSON(Subscription.self)
        guard !body.channels.isEmpty else { throw APIError.invalid(field: "channels", "must name at least one channel") }
        for channel in body.channels where !Self.channels.contains(channel) && !channel.hasPrefix("custom:") {
            throw APIError.invalid(field: "channels", "unknown channel '\(channel.prefix(60))'; expected lifecycle, input, messages, values, "
                                   + "updates, tools, tasks, checkpoints, custom or custom:<name>")
        }
        if let depth = body.depth, depth < 0 { throw APIError.invalid(field: "depth", "must not be negative") }
        if let since = body.since, since < 0 { throw APIError.invalid(field: "since", "must not be negative") }
        let threadID = try await thread(context)
        let wanted = Set(body.channels)
        // Every event here is the root graph's (namespace []): a filter by namespace keeps them only if it names the root.
        let rootIncluded = body.namespaces.map { $0.contains([]) } ?? true
        let since = body.since
        let engine = self.engine
        let logger = context.logger
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { writer in
            var renderer: (run: String, renderer: ThreadStreamRenderer, index: Int64)?
            // Without `since`, the thread's whole history and then what comes: langgraph-sdk opens a fresh stream to see
            // everything that matches its filter (a UI shows the conversation so far), and dedups by event_id.
            try await engine.followThread(threadID, from: since.map(Self.start(after:)) ?? .after(queueSeq: 0)) { run, record in
                if renderer?.run != run.id {
                    let job = run.job.flatMap { try? RunJob.decode($0) }
                    renderer = (run.id, ThreadStreamRenderer(graphName: run.assistantID, run: run, job: job), 0)
                }
                guard var current = renderer else { return }
                let rendered: [ThreadStreamRenderer.Event]
                do {
                    rendered = if let event = try RunLogEvent(record) { current.renderer.events(event) } else { current.renderer.legacy(record) }
                } catch {
                    return  // written by a newer release: left out
                }
                for event in rendered {
                    current.index += 1
                    guard current.index <= Self.maxPerRun else {
                        if current.index == Self.maxPerRun + 1 { logger.warning("thread_stream.run_too_long", metadata: ["run.id": .string(run.id)]) }
                        continue
                    }
                    let seq = Self.seq(run, current.index)
                    guard rootIncluded, since.map({ seq > $0 }) ?? true, wanted.contains(event.channel) else { continue }
                    let data = ThreadStreamEnvelope.encode(event, seq: seq, eventID: "\(run.id):\(current.index)",
                                                           timestamp: Int64(Date().timeIntervalSince1970 * 1000))
                    try await writer.send(event.method, data: data, id: Int(seq))
                }
                renderer = current
            }
        }
    }

    // MARK: - GET /threads/{thread_id}/stream

    enum JoinMode: String, CaseIterable {
        case runModes = "run_modes", lifecycle, stateUpdate = "state_update"
    }

    func joinStream(_ request: Request, _ context: RequestContext) async throws -> Response {
        // langgraph-sdk sends `stream_mode` once per mode; LangGraph's server reads `stream_modes`, comma-separated.
        let named = (request.queryValues("stream_mode") + request.queryValues("stream_modes"))
            .flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var modes = Set<JoinMode>()
        for name in named {
            guard let mode = JoinMode(rawValue: name) else { throw APIError.invalid(field: "stream_mode", unknownValue(name, JoinMode.self)) }
            // state_update frames come from LangGraph's update_state, which this server does not offer: the mode is
            // accepted and carries nothing.
            modes.insert(mode)
        }
        if modes.isEmpty { modes = [.runModes] }
        let lastID = (request.headers[.lastEventID] ?? "").trimmingCharacters(in: .whitespaces)
        let start: ThreadStart
        var after: Int64 = 0
        switch lastID {
        case "": start = .active
        case "-1", "-", "0": start = .after(queueSeq: 0)
        default:
            guard let value = Int64(lastID), value > 0 else {
                throw APIError.invalid(field: "Last-Event-ID", "must be the id of an event of this stream, or -1 to replay the thread from its start")
            }
            (start, after) = (Self.start(after: value), value)
        }
        let threadID = try await thread(context)
        let (engine, catalog, runModes, skip) = (self.engine, dependencies.catalog, modes.contains(.runModes), after)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat) { writer in
            var current: (run: String, renderer: LangGraphRenderer, index: Int64)?
            try await engine.followThread(threadID, from: start) { run, record in
                if current?.run != run.id {
                    let job = run.job.flatMap { try? RunJob.decode($0) } ?? (try? RunPlan.legacyJob(run, catalog: catalog))
                    let created = job.map { Set($0.streamModes.compactMap(StreamMode.init(rawValue:))) } ?? Set(RunEndpoints.defaultStreamModes)
                    current = (run.id, LangGraphRenderer(modes: created, run: run, job: job), 0)
                }
                guard var reading = current else { return }
                var frames: [LangGraphRenderer.Frame]
                do {
                    frames = if let event = try RunLogEvent(record) { reading.renderer.frames(event) } else { reading.renderer.legacy(record, filter: nil) }
                } catch {
                    return
                }
                // Between runs the thread's stream goes on: a run's end is LangGraph's `run_done` metadata, not `end`.
                frames = frames.map { $0.event == "end" ? ("metadata", encodeJSON(RunDone(run_id: run.id))) : $0 }
                for frame in frames {
                    reading.index += 1
                    let seq = Self.seq(run, reading.index)
                    guard reading.index <= Self.maxPerRun, seq > skip, runModes || frame.event == "metadata" else { continue }
                    try await writer.send(frame.event, data: frame.data, id: Int(seq))
                }
                current = reading
            }
        }
    }

    struct RunDone: Encodable {
        var status = "run_done"
        var run_id: String
    }
}
