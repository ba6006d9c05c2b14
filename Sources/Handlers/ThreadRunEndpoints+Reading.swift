import AgentRuntime
import Foundation
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
        _ = try await store.deleteRun(run.id)
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
        guard var updated = try await store.requestCancel(run.id, action: action) else {
            throw APIError.notFound("No run with id '\(run.id)'.", code: "run_not_found")
        }
        supervisor.cancelLocal(run.id, action: action)
        guard waitFlag == "1" || waitFlag == "true" else {
            return Response.json(encodeJSON(ThreadWire.Run(updated)), status: 202)
        }
        // Until the worker running it (this one or another) has stopped it.
        let bell = supervisor.acquireBell(run.id)
        defer { supervisor.releaseBell(run.id) }
        while updated.status.isActive {
            let generation = bell.generation
            guard let current = try await store.run(run.id) else { return Response(status: 204) }
            updated = current
            if updated.status.isActive {
                await bell.wait(since: generation, timeout: Self.remotePoll, watchdog: dependencies.watchdog)
                try Task.checkCancellation()
            }
        }
        return .json(encodeJSON(ThreadWire.Run(updated)))
    }

    func join(_ context: RequestContext) async throws -> Response {
        var run = try await run(context)
        let bell = supervisor.acquireBell(run.id)
        defer { supervisor.releaseBell(run.id) }
        while run.status.isActive {
            let generation = bell.generation
            guard let current = try await store.run(run.id) else { break }
            run = current
            if run.status.isActive {
                await bell.wait(since: generation, timeout: Self.remotePoll, watchdog: dependencies.watchdog)
                try Task.checkCancellation()
            }
        }
        let error = Self.runError(run)
        guard let threadID = run.threadID else {
            return .json(encodeJSON(ThreadWire.Run(run)))
        }
        return try await finalState(threadID: threadID, error: error)
    }

    static func runError(_ run: RunRecord) -> APIError? {
        guard run.status == .error || run.status == .timeout else { return nil }
        struct Note: Decodable { var error: RunStreamError? }
        let note = run.result.flatMap { try? JSONDecoder().decode(Note.self, from: Data($0.utf8)) }?.error
        return APIError(status: 500, code: note?.error ?? "run_failed", detail: note?.message ?? "The run failed.")
    }

    func joinStream(_ request: Request, _ context: RequestContext) async throws -> Response {
        let run = try await run(context)
        // The header, or the query parameter for clients that cannot set one; blank means from the start.
        let header = (request.headers["Last-Event-ID"] ?? "").trimmingCharacters(in: .whitespaces)
        let query = request.queryValues("last_event_id").map { $0.trimmingCharacters(in: .whitespaces) }
        let (field, lastID) = header.isEmpty ? ("last_event_id", query.count > 1 ? "repeated" : query.first ?? "") : ("Last-Event-ID", header)
        var after = 0
        if !lastID.isEmpty {
            guard let value = Int(lastID), value >= 0 else {
                throw APIError.invalid(field: field, "must be the id of an event of this run (a non-negative integer), given once")
            }
            after = value
        }
        var modes: Set<String>?
        let requested = request.queryValues("stream_mode").filter { !$0.isEmpty }
        if !requested.isEmpty {
            for mode in requested where StreamMode(rawValue: mode) == nil {
                throw APIError.invalid(field: "stream_mode", unknownValue(mode, StreamMode.self))
            }
            modes = Set(requested)
        }
        let cancelValues = request.queryValues("cancel_on_disconnect")
        guard cancelValues.count <= 1, cancelValues.allSatisfy({ ["true", "false"].contains($0) }) else {
            throw APIError.invalid(field: "cancel_on_disconnect", "must be true or false, given once")
        }
        let cancelOnLeave = cancelValues.first == "true"
        let location = Self.location(run)
        let (start, filter) = (after, modes)
        return ServerSentEvents.response(heartbeat: dependencies.heartbeat, headers: HTTPHeaders([
            ("Content-Location", location), ("Location", location + "/stream"),
        ])) { [self] events in
            do {
                try await tail(run.id, after: start, modes: filter, events)
            } catch {
                if cancelOnLeave {
                    _ = try? await store.requestCancel(run.id, action: .interrupt)
                    supervisor.cancelLocal(run.id, action: .interrupt)
                }
                throw error
            }
        }
    }

    /// Sends the run's logged events after `after`, then the live tail, until its `end`. The log is the only
    /// source, so a reader here and the run on another worker see the same numbered events: no gap, no repeat.
    func tail(_ runID: String, after: Int, modes: Set<String>?, _ events: EventStreamWriter) async throws {
        let bell = supervisor.acquireBell(runID)
        defer { supervisor.releaseBell(runID) }
        var last = after
        var idlePolls = 0
        while true {
            let generation = bell.generation
            let batch = try await store.events(run: runID, after: last, limit: 256)
            for event in batch {
                last = event.seq
                if let modes, let mode = Self.mode(of: event.event), !modes.contains(mode) { continue }
                try await events.send(logged: event)
                if event.event == "end" { return }
            }
            if batch.count == 256 { continue }
            if batch.isEmpty {
                idlePolls += 1
                // Now and then, and before giving up: a run that ended without an `end` in its log (rolled back,
                // deleted, or its events pruned) would otherwise be waited on for ever.
                if idlePolls % 20 == 0 {
                    let run = try await store.run(runID)
                    if run == nil || run?.status.isActive == false,
                       try await store.events(run: runID, after: last, limit: 1).isEmpty {
                        try await events.sendUnnumbered("end", data: Array("null".utf8))
                        return
                    }
                }
            } else {
                idlePolls = 0
            }
            let local = supervisor.localRun(runID) != nil
            await bell.wait(since: generation, timeout: local ? .seconds(1) : supervisor.remotePoll, watchdog: dependencies.watchdog)
            try Task.checkCancellation()
        }
    }

    /// The stream mode an event belongs to; nil for the frames every reader gets (metadata, error, end).
    static func mode(of event: String) -> String? {
        switch event {
        case "values", "updates", "custom": event
        case "messages": StreamMode.messagesTuple.rawValue
        case _ where event.hasPrefix("messages/"): StreamMode.messages.rawValue
        default: nil
        }
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
