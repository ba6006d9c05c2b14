import AgentRuntime
import Foundation
import Runs
import Store

/// Reading runs: get, list, cancel, join, and their event streams from the log.
extension ThreadRunEndpoints {

    /// The run named by the path; one on another thread is not found, so ids cannot be probed across threads.
    func run(_ context: RequestContext) async throws -> RunRecord {
        let runID = try ThreadEndpoints.validID(context.parameters["run_id"] ?? "", field: "run_id")
        let threadID = try context.parameters["thread_id"].map { context.threadKey(try ThreadEndpoints.validID($0, field: "thread_id")) }
        // Another tenant's run is not found, whichever path asks.
        guard let run = try await store.run(runID), threadID == nil || run.threadID == threadID,
              Tenancy.owns(run.threadID ?? "", tenant: context.tenant) else {
            throw APIError.notFound("No run with id '\(runID.prefix(100))'\(threadID.map { " on thread '\(Tenancy.publicID($0).prefix(100))'" } ?? "").",
                                    code: "run_not_found")
        }
        return run
    }

    func list(_ request: Request, _ context: RequestContext) async throws -> Response {
        let threadID = try ThreadEndpoints.threadID(context)
        let query = request.queryItems
        let limit = try ThreadEndpoints.limit(query["limit"], field: "limit") ?? 10
        guard (1...1000).contains(limit) else { throw APIError.invalid(field: "limit", "must be between 1 and 1000") }
        let offset = try ThreadEndpoints.limit(query["offset"], field: "offset") ?? 0
        guard offset >= 0 else { throw APIError.invalid(field: "offset", "must not be negative") }
        var status: RunStatus?
        if let text = query["status"], !text.isEmpty {
            guard let value = RunStatus(rawValue: text) else { throw APIError.invalid(field: "status", unknownValue(text, RunStatus.self)) }
            status = value
        }
        guard try await store.thread(threadID) != nil else { throw APIError.threadNotFound(threadID) }
        let runs = try await store.runs(thread: threadID, limit: limit, offset: offset, status: status)
        return .json(encodeJSON(runs.map(ThreadWire.Run.init)))
    }

    func delete(_ context: RequestContext) async throws -> Response {
        let run = try await run(context)
        _ = try await engine.deleteRun(run.id)
        return Response(status: 204)
    }

    func cancel(_ request: Request, _ context: RequestContext) async throws -> Response {
        let query = request.queryItems
        var action = CancelAction.interrupt
        if let text = query["action"], !text.isEmpty {
            guard let value = CancelAction(rawValue: text) else { throw APIError.invalid(field: "action", unknownValue(text, CancelAction.self)) }
            action = value
        }
        let waitFlag = query["wait"] ?? "0"
        guard ["0", "1", "true", "false", ""].contains(waitFlag) else { throw APIError.invalid(field: "wait", "must be 0, 1, true or false") }
        let run = try await run(context)
        context.logger.info("run.cancel_requested", metadata: ["run.id": .string(run.id), "action": .string(action.rawValue)])
        guard let updated = try await engine.cancel(run.id, action: action) else {
            throw APIError.notFound("No run with id '\(run.id)'.", code: "run_not_found")
        }
        guard waitFlag == "1" || waitFlag == "true" else {
            return Response.json(encodeJSON(ThreadWire.Run(updated)), status: 202)
        }
        // Until the worker running it (this one or another) has stopped it.
        guard let ended = try await engine.waitForEnd(updated) else { return Response(status: 204) }
        return .json(encodeJSON(ThreadWire.Run(ended)))
    }

    func join(_ context: RequestContext) async throws -> Response {
        let asked = try await run(context)
        let run = try await engine.waitForEnd(asked) ?? asked
        guard let threadID = run.threadID else {
            return .json(encodeJSON(ThreadWire.Run(run)))
        }
        return try await finalState(threadID: threadID, error: Self.runError(run))
    }

    static func runError(_ run: RunRecord) -> APIError? {
        guard run.status == .error || run.status == .timeout else { return nil }
        let failure = RunResultNote.failure(of: run)
        return APIError(status: 500, code: failure?.error ?? "run_failed", detail: failure?.message ?? "The run failed.")
    }

    func joinStream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let run = try await run(context)
        // The header, or the query parameter for clients that cannot set one; blank means from the start.
        // Both are checked (a malformed one is refused even beside the other); the header wins.
        let header = (request.headers[.lastEventID] ?? "").trimmingCharacters(in: .whitespaces)
        let query = request.queryValues("last_event_id").map { $0.trimmingCharacters(in: .whitespaces) }
        var after = try Self.eventID(query.count > 1 ? "repeated" : query.first ?? "", field: "last_event_id")
        if !header.isEmpty { after = try Self.eventID(header, field: "Last-Event-ID") }
        var modes: Set<StreamMode>?
        // Repeated, or as LangGraph's server also reads it, one JSON array (`["values","debug"]`); empty means the run's own.
        let requested = request.queryValues("stream_mode").flatMap { value -> [String] in
            guard value.hasPrefix("["), let list = try? JSONDecoder().decode([String].self, from: Data(value.utf8)) else { return [value] }
            return list
        }.filter { !$0.isEmpty }
        if !requested.isEmpty {
            modes = Set(try requested.map { mode in
                guard let known = StreamMode(rawValue: mode) else {
                    throw APIError.invalid(field: "stream_mode", unknownValue(mode, StreamMode.self))
                }
                return known
            })
        }
        let cancelValues = request.queryValues("cancel_on_disconnect")
        guard cancelValues.count <= 1, cancelValues.allSatisfy({ ["true", "false"].contains($0) }) else {
            throw APIError.invalid(field: "cancel_on_disconnect", "must be true or false, given once")
        }
        let cancelOnLeave = cancelValues.first == "true"
        let location = Self.location(run)
        let (start, filter) = (after, modes)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: [
            .contentLocation: location, .location: location + "/stream",
        ]) { [self] events in
            do {
                try await tail(run, after: start, modes: filter, events)
            } catch {
                if cancelOnLeave { _ = try? await engine.cancel(run.id, action: .interrupt) }
                throw error
            }
        }
    }

    /// A frame id to resume after: blank, -1 or - (LangGraph's SDKs send -1 for "from the start") are 0.
    static func eventID(_ text: String, field: String) throws -> Int {
        guard !text.isEmpty, text != "-1", text != "-" else { return 0 }
        guard let value = Int(text), value >= 0 else {
            throw APIError.invalid(field: field, "must be the id of an event of this run (a non-negative integer, or -1 for the start), given once")
        }
        return value
    }

    /// Sends the run's frames in the reader's stream modes (nil: the modes its creator asked for) from the log, then
    /// live until its end. Frames are numbered from 1 in the order the log renders them for these modes, the same
    /// numbers on every read: `after` (Last-Event-ID) skips that many, so a resumed stream has no gap and no repeat.
    func tail(_ run: RunRecord, after: Int, modes: Set<StreamMode>?, _ events: EventStreamWriter) async throws {
        // The modes the run was created with: from its job, or from the request of a run queued before jobs.
        let job = run.job.flatMap { try? RunJob.decode($0) } ?? (try? RunPlan.legacyJob(run, catalog: dependencies.catalog))
        let created = job.map { Set($0.streamModes.compactMap(StreamMode.init(rawValue:))) } ?? Set(RunEndpoints.defaultStreamModes)
        let renderer = LangGraphRenderer(modes: modes ?? created, run: run, job: job)
        // Frames of an untyped log were rendered for the creator's modes already: a reader who names none gets them all.
        let legacyFilter = modes.map { Set($0.map(\.rawValue)) }
        var number = 0
        let ending = try await engine.follow(run.id, after: 0) { record in
            let frames: [LangGraphRenderer.Frame]
            do {
                frames = if let event = try RunLogEvent(record) { renderer.frames(event) } else { renderer.legacy(record, filter: legacyFilter) }
            } catch {
                // An event a newer release wrote: what this one cannot render it leaves out.
                return
            }
            for frame in frames {
                number += 1
                if number > after { try await events.send(frame.event, data: frame.data, id: number) }
            }
        }
        // A log without its end, or a reader who already had everything: the stream still ends with `end`.
        if case .missing = ending { try await events.sendUnnumbered("end", data: Array("null".utf8)) }
        else if number <= after { try await events.sendUnnumbered("end", data: Array("null".utf8)) }
    }

    static func location(_ run: RunRecord) -> String {
        let runPart = "/runs/" + escape(run.id)
        return run.threadID.map { "/threads/" + escape(Tenancy.publicID($0)) + runPart } ?? runPart
    }

    static func escape(_ id: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/;?#%")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }
}
