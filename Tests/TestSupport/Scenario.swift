import Foundation
import Testing

/// Scenarios written once against `APIClient` and run by both drivers: in-process (HandlersTests'
/// `ScenarioTests`, a fresh application each) and through nginx (LiveTests' `LiveScenarioTests`, one cluster for
/// all of them, so the live suite starts no cluster more). What they assert holds on either path: the worker's
/// answer as nginx passes it on. Every id a scenario makes is new, so they can share one tenant.
///
/// Both drivers' applications have the `echo` agent (the built-in model without a delay) and send an admin key of
/// one tenant unless a request says otherwise.
public enum Scenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case problemsNameTheFailure
    case aRequestWithoutAKeyIsRefused
    case aThreadKeepsWhatItsRunsSaid
    case aStatelessRunAnswersAndKeepsNoThread
    case aStreamNumbersItsFramesAndEndsWithEnd
    case aRetriedPostWithTheSameIdempotencyKeyCreatesOneRun

    public var testDescription: String { rawValue }

    public func run(on client: some APIClient) async throws {
        switch self {
        case .problemsNameTheFailure: try await Self.problems(client)
        case .aRequestWithoutAKeyIsRefused: try await Self.withoutAKey(client)
        case .aThreadKeepsWhatItsRunsSaid: try await Self.threadState(client)
        case .aStatelessRunAnswersAndKeepsNoThread: try await Self.statelessRun(client)
        case .aStreamNumbersItsFramesAndEndsWithEnd: try await Self.stream(client)
        case .aRetriedPostWithTheSameIdempotencyKeyCreatesOneRun: try await Self.idempotentRetry(client)
        }
    }

    /// A 404, a 422 that names the field, and a 415 are RFC 9457 problems that carry the request id the response
    /// header has, and no cache may keep them.
    static func problems(_ client: some APIClient) async throws {
        let missing = try await client.send("GET", "/threads/\(newID())")
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(missing.header("cache-control") == "no-store")
        let notFound = try #require(missing.json, "\(missing.text)")
        #expect(notFound["status"] as? Int == 404)
        #expect(notFound["code"] as? String == "thread_not_found")
        #expect(notFound["type"] as? String == "urn:agentfcgi:problem:thread_not_found")
        let requestID = try #require(missing.header("x-request-id"))
        #expect(!requestID.isEmpty && notFound["request_id"] as? String == requestID)

        let invalid = try await client.send("POST", "/runs/wait", body: #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":5}]}}"#)
        #expect(invalid.status == 422)
        #expect(invalid.header("content-type") == "application/problem+json")
        let problem = try #require(invalid.json, "\(invalid.text)")
        #expect(problem["code"] as? String == "validation_error")
        #expect(problem["field"] as? String == "input.messages[0].content")
        #expect(problem["detail"] as? String == "input.messages[0].content: must be a string or a list of content parts")
        #expect(problem["message"] as? String == problem["detail"] as? String)

        let plain = try await client.send("POST", "/runs/wait", body: "hello", headers: [("Content-Type", "text/plain")])
        #expect(plain.status == 415)
        #expect(plain.json?["code"] as? String == "unsupported_media_type")
    }

    /// Without a key: 401 with a Bearer challenge; with a key that is not one, the same; health needs none.
    static func withoutAKey(_ client: some APIClient) async throws {
        let refused = try await client.send("POST", "/threads", body: "{}", authenticated: false)
        #expect(refused.status == 401)
        #expect(refused.header("www-authenticate")?.hasPrefix("Bearer") == true)
        #expect(refused.json?["code"] as? String == "unauthorized")
        let forged = try await client.send("GET", "/threads/\(newID())", headers: [("X-Api-Key", "afk_000000000000_forged")])
        #expect(forged.status == 401)
        #expect(forged.header("www-authenticate")?.hasPrefix("Bearer") == true)
        #expect(try await client.send("GET", "/ok", authenticated: false).status == 200)
    }

    /// A thread, a run on it waited for, and the thread's state, runs and status afterwards.
    static func threadState(_ client: some APIClient) async throws {
        let created = try await client.send("POST", "/threads", body: "{}")
        #expect(created.status == 200)
        let thread = try #require(created.json?["thread_id"] as? String, "\(created.text)")
        let waited = try await client.send("POST", "/threads/\(thread)/runs/wait", body: runInput("keep this"))
        #expect(waited.status == 200, "\(waited.text)")
        #expect(contents(waited.json) == ["keep this", "You said: keep this"])
        let state = try await client.send("GET", "/threads/\(thread)/state")
        #expect(state.status == 200)
        #expect(contents(state.json?["values"] as? [String: Any]) == ["keep this", "You said: keep this"])
        let runs = try await client.send("GET", "/threads/\(thread)/runs")
        #expect(runs.jsonArray?.count == 1)
        #expect(runs.jsonArray?.first?["status"] as? String == "success")
        #expect(try await client.send("GET", "/threads/\(thread)").json?["status"] as? String == "idle")
    }

    /// `POST /runs/wait` without a thread answers with the final values and stores no thread.
    static func statelessRun(_ client: some APIClient) async throws {
        let search = #"{"limit":1000}"#
        let before = try #require(try await client.send("POST", "/threads/search", body: search).jsonArray)
        let marker = "stateless \(newID())"
        let answer = try await client.send("POST", "/runs/wait", body: runInput(marker))
        #expect(answer.status == 200, "\(answer.text)")
        #expect(contents(answer.json) == [marker, "You said: " + marker])
        let after = try await client.send("POST", "/threads/search", body: search)
        #expect(after.status == 200)
        #expect(after.jsonArray?.count == before.count)
        // Search answers carry each thread's messages.
        #expect(!after.text.contains(marker), "a thread keeps the stateless run's input")
    }

    /// A streamed run: an event stream whose frames are numbered from 1, that starts with the run's metadata,
    /// streams the answer token by token and ends with `end`; the run's log read again gives the same frames.
    static func stream(_ client: some APIClient) async throws {
        let thread = try #require(try await client.send("POST", "/threads", body: "{}").json?["thread_id"] as? String)
        let streamed = try await client.send("POST", "/threads/\(thread)/runs/stream",
                                             body: runInput("one two three", extra: #","stream_mode":["messages-tuple","values"]"#))
        #expect(streamed.status == 200)
        #expect(streamed.header("content-type")?.hasPrefix("text/event-stream") == true)
        let frames = streamed.frames
        #expect(frames.first?.event == "metadata")
        #expect(frames.last?.event == "end")
        #expect(frames.compactMap { $0.id.flatMap(Int.init) } == Array(1...max(frames.count, 1)), "\(frames.map(\.id))")
        let tokens = frames.filter { $0.event == "messages" }.compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) as? [[String: Any]])?.first?["content"] as? String
        }
        #expect(tokens.count > 1 && tokens.joined() == "You said: one two three", "\(tokens)")
        let runID = try #require((try? JSONSerialization.jsonObject(with: Data((frames.first?.data ?? "").utf8)) as? [String: Any])?["run_id"] as? String)
        let replay = try await client.send("GET", "/threads/\(thread)/runs/\(runID)/stream")
        #expect(replay.frames.map(\.data) == frames.map(\.data))
    }

    /// The same POST sent four times with one Idempotency-Key makes one run; the retries are replays.
    static func idempotentRetry(_ client: some APIClient) async throws {
        let thread = try #require(try await client.send("POST", "/threads", body: "{}").json?["thread_id"] as? String)
        let key = "retry-" + newID()
        var ids: Set<String> = []
        for attempt in 0..<4 {
            let response = try await client.send("POST", "/threads/\(thread)/runs", body: runInput("exactly once"),
                                                 headers: [("Idempotency-Key", key)])
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("idempotent-replayed") == (attempt == 0 ? nil : "true"))
            if let id = response.json?["run_id"] as? String { ids.insert(id) }
        }
        #expect(ids.count == 1)
        #expect(try await client.send("GET", "/threads/\(thread)/runs").jsonArray?.count == 1)
    }

    // MARK: Helpers

    static func newID() -> String { UUID().uuidString.lowercased() }

    /// A LangGraph run body for the `echo` agent.
    static func runInput(_ text: String, extra: String = "") -> String {
        let escaped = String(decoding: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
        return #"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":\#(escaped)}]}\#(extra)}"#
    }

    static func contents(_ values: [String: Any]?) -> [String] {
        ((values?["messages"] as? [[String: Any]]) ?? []).compactMap { $0["content"] as? String }
    }
}
