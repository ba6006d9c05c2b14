import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
@testable import Runs
import Store
import TestSupport
import Testing

/// Crons in-process: what a cron may hold, its scope and tenant, the routes langgraph-sdk calls, and firings on a fast
/// schedule clock (daylight saving, catch-up after an outage, a revoked key, thread clean-up). The live tests fire
/// them across worker processes and a kill -9 (LiveCronTests), langgraph-sdk drives the routes (test_langgraph_crons.py).
@Suite struct CronTests {
    static let body = #"{"assistant_id":"echo","schedule":"0 9 * * *","input":{"messages":[{"role":"user","content":"digest"}]}}"#

    func call(_ h: ThreadHarness, _ method: String, _ path: String, _ body: String? = nil, key: String) async -> Response {
        await h.call(method, path, body, headers: [("X-Api-Key", key)])
    }

    func array(_ response: Response) async throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(try await bodyText(response).utf8)) as? [[String: Any]])
    }

    static func iso(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }

    /// RFC 3339's offsets go to 23:59 (Python writes them too); Foundation's parser stops at 18:00.
    @Test func endTimesTakeEveryOffsetRFC3339Allows() throws {
        let utc = try CronEndpoints.date("2098-12-31T10:00:00Z", field: "end_time")
        #expect(try CronEndpoints.date("2099-01-01T05:43:00+19:43", field: "end_time") == utc)
        #expect(try CronEndpoints.date("2098-12-30T10:01:00.5-23:59", field: "end_time") == utc + 0.5)
        #expect(try CronEndpoints.date("2099-01-01T04:00:00+18:00", field: "end_time") == utc)
        for bad in ["2099-01-01T05:43:00+24:00", "2099-01-01T05:43:00+19:60", "2099-01-01T05:43:00 19:43", "+19:43", "2099-01-01+19:43"] {
            #expect(throws: APIError.self, "\(bad)") { try CronEndpoints.date(bad, field: "end_time") }
        }
    }

    @Test func badCronsAreRefusedAndNothingIsStored() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write", "threads:write"])
        let input = #""input":{"messages":[{"role":"user","content":"x"}]}"#
        let cases: [(String, String, Int, String?, String?)] = [
            ("/runs/crons", #"{"assistant_id":"echo",\#(input)}"#, 422, "schedule", "required"),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"61 * * * *",\#(input)}"#, 422, "schedule", "out of range 0-59"),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"*/10 * * * * *",\#(input)}"#, 422, "schedule", "seconds"),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"@reboot",\#(input)}"#, 422, "schedule", nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","timezone":"Mars/Olympus",\#(input)}"#, 422, "timezone", nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","end_time":"tomorrow",\#(input)}"#, 422, "end_time", nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","on_run_completed":"archive",\#(input)}"#, 422, "on_run_completed", nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","enabled":"yes",\#(input)}"#, 422, "enabled", nil),
            ("/runs/crons", #"{"assistant_id":"ghost","schedule":"0 9 * * *",\#(input)}"#, 404, "assistant_id", nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","input":{"messages":[]}}"#, 422, nil, nil),
            ("/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *","webhook":"http://169.254.169.254/x",\#(input)}"#, 422, "webhook", nil),
            ("/runs/crons", #"["schedule"]"#, 422, nil, "object"),
            ("/threads/nowhere/runs/crons", #"{"assistant_id":"echo","schedule":"0 9 * * *",\#(input)}"#, 404, nil, nil),
        ]
        for (path, body, status, field, words) in cases {
            let response = await call(h, "POST", path, body, key: key)
            #expect(response.status.code == status, "\(body.prefix(90)): \(response.status)")
            let problem = try await jsonObject(response)
            if let field { #expect(problem["field"] as? String == field, "\(body.prefix(90)): \(problem)") }
            if let words { #expect((problem["detail"] as? String)?.contains(words) == true, "\(body.prefix(90)): \(problem)") }
        }
        // On a thread, what becomes of a firing's own thread does not apply.
        let thread = try #require(try await jsonObject(call(h, "POST", "/threads", "{}", key: key))["thread_id"] as? String)
        let onThread = await call(h, "POST", "/threads/\(thread)/runs/crons",
                                  #"{"assistant_id":"echo","schedule":"0 9 * * *","on_run_completed":"keep",\#(input)}"#, key: key)
        #expect(onThread.status == 422)
        #expect(try await h.store.countCrons(CronQuery(tenant: "a")) == 0)
        // ... and the document says so, or schema-driven clients (schemathesis) send it and get a 422.
        let doc = OpenAPIDocument.make(routes: h.app.router.routes, catalog: AgentCatalog(agents: ThreadHarness.agents), version: agentfcgiVersion)
        func bodySchema(_ path: String) -> String {
            let ref = doc.objectValue?["paths"]?.objectValue?[path]?.objectValue?["post"]?.objectValue?["requestBody"]?
                .objectValue?["content"]?.objectValue?["application/json"]?.objectValue?["schema"]?.objectValue?["$ref"]
            guard case .string(let target)? = ref, let name = target.split(separator: "/").last,
                  let schema = doc.objectValue?["components"]?.objectValue?["schemas"]?.objectValue?[String(name)] else { return "" }
            return String(decoding: OpenAPIDocument.encoded(schema), as: UTF8.self)
        }
        let forbids = #/"not" : \{\s*"required" : \[\s*"on_run_completed"\s*\]/#
        #expect(bodySchema("/threads/{thread_id}/runs/crons").contains(forbids))
        #expect(!bodySchema("/runs/crons").contains(forbids))
    }

    @Test func cronsNeedTheirScopeAndStayInTheirTenant() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let owner = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let runner = try await h.makeKey(tenant: "a", scopes: ["runs:write", "runs:read", "threads:write", "threads:read", "agents:read"])
        let stranger = try await h.makeKey(tenant: "b", scopes: ["admin"])
        let created = try await jsonObject(call(h, "POST", "/runs/crons", Self.body, key: owner))
        let id = try #require(created["cron_id"] as? String)
        for (method, path, body) in [("POST", "/runs/crons", Self.body), ("POST", "/runs/crons/search", "{}"), ("POST", "/runs/crons/count", "{}"),
                                     ("PATCH", "/runs/crons/\(id)", #"{"enabled":false}"#), ("DELETE", "/runs/crons/\(id)", nil)] {
            #expect(await call(h, method, path, body, key: runner).status == 403, "\(method) \(path)")
        }
        // Another tenant finds nothing, changes nothing, deletes nothing.
        #expect(try await array(call(h, "POST", "/runs/crons/search", "{}", key: stranger)).isEmpty)
        #expect(try await bodyText(call(h, "POST", "/runs/crons/count", "{}", key: stranger)) == "0")
        #expect(await call(h, "PATCH", "/runs/crons/\(id)", #"{"enabled":false}"#, key: stranger).status == 404)
        #expect(await call(h, "DELETE", "/runs/crons/\(id)", nil, key: stranger).status == 404)
        #expect(try await h.store.cron(tenant: "a", id: id)?.enabled == true)
        // A tenant's 101st cron is refused.
        for _ in 1..<StoreLimits.maxCronsPerTenant { #expect(await call(h, "POST", "/runs/crons", Self.body, key: owner).status == 200) }
        let over = await call(h, "POST", "/runs/crons", Self.body, key: owner)
        #expect(over.status == 409)
        #expect(try await jsonObject(over)["code"] as? String == "cron_limit")
    }

    @Test func createSearchUpdateAndDelete() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write", "threads:write"])
        let berlin = try await jsonObject(call(h, "POST", "/runs/crons", #"""
            {"assistant_id":"echo","schedule":"0 9 * * *","timezone":"Europe/Berlin","metadata":{"team":"ops"},
             "end_time":"2099-01-01T00:00:00+00:00","input":{"messages":[{"role":"user","content":"digest"}]}}
            """#, key: key))
        let id = try #require(berlin["cron_id"] as? String)
        #expect(berlin["schedule"] as? String == "0 9 * * *" && berlin["timezone"] as? String == "Europe/Berlin")
        #expect(berlin["thread_id"] is NSNull && berlin["on_run_completed"] as? String == "delete" && berlin["enabled"] as? Bool == true)
        #expect(berlin["end_time"] as? String == "2099-01-01T00:00:00.000Z" && berlin["user_id"] is NSNull)
        #expect((berlin["metadata"] as? [String: Any])?["team"] as? String == "ops")
        #expect((berlin["payload"] as? [String: Any])?["assistant_id"] as? String == "echo")
        // The next firing is 09:00 in Berlin: 07:00 or 08:00 UTC by the season, within a day.
        let next = try Self.iso(try #require(berlin["next_run_date"] as? String))
        let berlinHour = Calendar.current.dateComponents(in: TimeZone(identifier: "Europe/Berlin")!, from: next)
        #expect(berlinHour.hour == 9 && berlinHour.minute == 0 && next > Date() && next < Date() + 86_400)

        let thread = try #require(try await jsonObject(call(h, "POST", "/threads", "{}", key: key))["thread_id"] as? String)
        let onThread = try await jsonObject(call(h, "POST", "/threads/\(thread)/runs/crons", Self.body, key: key))
        #expect(onThread["thread_id"] as? String == thread && onThread["on_run_completed"] is NSNull)
        let threadCronID = try #require(onThread["cron_id"] as? String)
        let threadCron = try #require(try await h.store.cron(tenant: "a", id: threadCronID))
        #expect(try RunJob.decode(threadCron.job).multitaskStrategy == "enqueue")

        let found = try await array(call(h, "POST", "/runs/crons/search", #"{"thread_id":"\#(thread)"}"#, key: key))
        #expect(found.map { $0["cron_id"] as? String } == [onThread["cron_id"] as? String])
        let selected = try await array(call(h, "POST", "/runs/crons/search", #"{"select":["cron_id","now"],"sort_by":"created_at","sort_order":"asc"}"#, key: key))
        #expect(selected.count == 2 && Set(selected[0].keys) == ["cron_id", "now"] && selected[0]["cron_id"] as? String == id)
        #expect(await call(h, "POST", "/runs/crons/search", #"{"select":["secret"]}"#, key: key).status == 422)
        let unselected = try await array(call(h, "POST", "/runs/crons/search", #"{"select":[]}"#, key: key))
        #expect(unselected.count == 2 && unselected.allSatisfy { $0["cron_id"] is String && $0["schedule"] is String && $0["now"] == nil })
        #expect(await call(h, "POST", "/runs/crons/search", #"{"sort_by":"schedule"}"#, key: key).status == 422)
        #expect(try await bodyText(call(h, "POST", "/runs/crons/count", #"{"metadata":{"team":"ops"}}"#, key: key)) == "1")

        // A new schedule goes on from now; run fields replace the stored request's; off means no next firing.
        let changed = try await jsonObject(call(h, "PATCH", "/runs/crons/\(id)",
                                                #"{"schedule":"30 6 * * 1","timezone":null,"end_time":null,"input":{"messages":[{"role":"user","content":"weekly"}]}}"#,
                                                key: key))
        let weekly = try Self.iso(try #require(changed["next_run_date"] as? String))
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: weekly)
        #expect(parts.weekday == 2 && parts.hour == 6 && parts.minute == 30 && changed["timezone"] is NSNull && changed["end_time"] is NSNull)
        let job = try RunJob.decode(try #require(try await h.store.cron(tenant: "a", id: id)).job)
        #expect(job.messages.map(\.content) == ["weekly"])
        #expect((changed["metadata"] as? [String: Any])?["team"] as? String == "ops")
        #expect(await call(h, "PATCH", "/runs/crons/\(id)", #"{"schedule":"every day"}"#, key: key).status == 422)
        #expect(await call(h, "PATCH", "/runs/crons/\(id)", #"{"assistant_id":"ghost"}"#, key: key).status == 404)
        let off = try await jsonObject(call(h, "PATCH", "/runs/crons/\(id)", #"{"enabled":false}"#, key: key))
        #expect(off["enabled"] as? Bool == false && off["next_run_date"] is NSNull)
        #expect(try await bodyText(call(h, "POST", "/runs/crons/count", #"{"enabled":true}"#, key: key)) == "1")

        #expect(await call(h, "DELETE", "/runs/crons/\(id)", nil, key: key).status == 204)
        #expect(await call(h, "DELETE", "/runs/crons/\(id)", nil, key: key).status == 404)
        #expect(await call(h, "PATCH", "/runs/crons/\(id)", "{}", key: key).status == 404)
    }

    /// The US spring-forward night on a clock an hour a second (held at its start until the cron is made, however
    /// slowly): 02:30 does not exist and fires once, at 03:00 EDT.
    @Test func aTimeInTheSkippedHourFiresOnceJustAfterIt() async throws {
        let clock = ScheduleClock(start: try Self.iso("2026-03-08T06:58:00Z"), anchor: .distantFuture, rate: 3600)
        let h = try ThreadHarness(requireKeys: true, scheduleClock: clock)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write", "runs:read"])
        let cron = try await jsonObject(call(h, "POST", "/runs/crons", #"""
            {"assistant_id":"echo","schedule":"30 2 * * *","timezone":"America/New_York","on_run_completed":"keep",
             "input":{"messages":[{"role":"user","content":"night"}]}}
            """#, key: key))
        let id = try #require(cron["cron_id"] as? String)
        #expect(try Self.iso(try #require(cron["next_run_date"] as? String)) == (try Self.iso("2026-03-08T07:00:00Z")))
        clock.release()
        // Two hours of schedule time go by (07:00Z fired, next is the 9th at 02:30 EDT).
        try await eventually("the clock past 09:00Z") { h.engine.scheduleNow > (try Self.iso("2026-03-08T09:00:00Z")) }
        let firings = try await h.store.cronFirings(cron: id, limit: 10)
        try #require(firings.map(\.scheduledAt) == [try Self.iso("2026-03-08T07:00:00Z")])
        #expect(try await h.store.cron(tenant: "a", id: id)?.nextRunDate == (try Self.iso("2026-03-09T06:30:00Z")))
        // Its run ran, with the cron's metadata, on a thread that is kept.
        let run = try await waiting(for: "the firing's run to end") {
            while true {
                if let run = try await h.store.run(firings[0].runID), run.status == .success { return run }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let metadata = ThreadWire.object(run.metadata)
        #expect(metadata.objectValue?["cron_id"] == .string(id))
        #expect(metadata.objectValue?["cron_scheduled_at"] == .string("2026-03-08T07:00:00Z"))
        #expect(try await h.store.thread(try #require(run.threadID)) != nil)
    }

    /// The US fall-back night: 01:30 comes twice and fires once, the first time (EDT).
    @Test func aTimeInTheRepeatedHourFiresOnce() async throws {
        let clock = ScheduleClock(start: try Self.iso("2026-11-01T05:00:00Z"), anchor: .distantFuture, rate: 3600)
        let h = try ThreadHarness(requireKeys: true, scheduleClock: clock)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", #"""
            {"assistant_id":"echo","schedule":"30 1 * * *","timezone":"America/New_York","input":{"messages":[{"role":"user","content":"x"}]}}
            """#, key: key))["cron_id"] as? String)
        #expect(try await h.store.cron(tenant: "a", id: id)?.nextRunDate == (try Self.iso("2026-11-01T05:30:00Z")))
        clock.release()
        try await eventually("the clock past 07:30Z") { h.engine.scheduleNow > (try Self.iso("2026-11-01T07:30:00Z")) }
        #expect(try await h.store.cronFirings(cron: id, limit: 10).map(\.scheduledAt) == [try Self.iso("2026-11-01T05:30:00Z")])
        #expect(try await h.store.cron(tenant: "a", id: id)?.nextRunDate == (try Self.iso("2026-11-02T06:30:00Z")))
    }

    /// Firings missed while every worker was down: one catch-up run for the first, then the schedule from now. The
    /// firing's own thread goes once its run has ended (`on_run_completed` delete).
    @Test func afterAnOutageOneCatchUpThenTheSchedule() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", Self.body, key: key))["cron_id"] as? String)
        var missed = CronChange()
        // Whole seconds: the store keeps milliseconds.
        let outage = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 3 * 86_400).rounded())
        missed.nextRunDate = .some(outage)
        _ = try await h.store.updateCron(tenant: "a", id: id, missed, now: Date())
        try await eventually("the catch-up firing's thread to be deleted") {
            try await h.store.cronFirings(cron: id, limit: 10).first?.status == .done
        }
        let firings = try await h.store.cronFirings(cron: id, limit: 10)
        #expect(firings.map(\.scheduledAt) == [outage])
        #expect(try await h.store.run(firings[0].runID) == nil)
        let firingThread = try #require(firings[0].threadID)
        #expect(try await h.store.thread(firingThread) == nil)
        let next = try #require(try await h.store.cron(tenant: "a", id: id)?.nextRunDate)
        #expect(next > Date() && next < Date() + 86_400)
    }

    /// `on_run_completed` delete takes the firing's thread only once its run's webhooks are done: a delivery still
    /// pending keeps it (and its run, which the delivery reads).
    @Test func aFiringsThreadWaitsForItsWebhooks() async throws {
        let h = try ThreadHarness(webhooks: WebhookSettings(secretEnvironment: "X", allowHosts: ["127.0.0.1"]), requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let body = #"{"assistant_id":"echo","schedule":"0 9 * * *","webhook":"http://127.0.0.1:9/hook","input":{"messages":[{"role":"user","content":"x"}]}}"#
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", body, key: key))["cron_id"] as? String)
        var due = CronChange()
        due.nextRunDate = .some(Date() - 1)
        _ = try await h.store.updateCron(tenant: "a", id: id, due, now: Date())
        let firing = try await waiting(for: "the firing's run to end") {
            while true {
                if let firing = try await h.store.cronFirings(cron: id, limit: 1).first,
                   let run = try await h.store.run(firing.runID), run.status == .success { return firing }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        // Several sweeps later (one every few hundred ms), the delivery is still pending and the thread is there.
        let thread = try #require(firing.threadID)
        try await Task.sleep(for: .seconds(3))
        #expect(try await h.store.cronFirings(cron: id, limit: 1).first?.status == .cleanup)
        #expect(try await h.store.thread(thread) != nil)
        // Delivered: the thread goes.
        let claimed = try await h.store.claimDueDeliveries(worker: "test", now: Date() + 3600, leaseUntil: Date() + 3660, limit: 10)
        #expect(claimed.map(\.runID) == [firing.runID])
        try await h.store.recordDeliveryAttempt(claimed[0].id, worker: "test",
                                                DeliveryAttempt(attempt: 1, at: Date(), statusCode: 204, error: nil, durationMilliseconds: 1),
                                                delivered: true, next: nil)
        try await eventually("the thread to go") { try await h.store.cronFirings(cron: id, limit: 1).first?.status == .done }
        #expect(try await h.store.thread(thread) == nil)
    }

    @Test func aRevokedKeyStopsItsCrons() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", Self.body, key: key))["cron_id"] as? String)
        let keyID = try #require(try await h.store.keys().first?.id)
        #expect(try await h.store.revokeKey(keyID))
        var due = CronChange()
        due.nextRunDate = .some(Date() - 1)
        _ = try await h.store.updateCron(tenant: "a", id: id, due, now: Date())
        try await eventually("the cron to be turned off") { try await h.store.cron(tenant: "a", id: id)?.enabled == false }
        let cron = try #require(try await h.store.cron(tenant: "a", id: id))
        #expect(cron.disabledReason?.hasPrefix("key_revoked") == true)
        let firings = try await h.store.cronFirings(cron: id, limit: 10)
        #expect(firings.count == 1 && firings[0].status == .failed && firings[0].detail == "key_revoked")
        #expect(try await h.store.run(firings[0].runID) == nil)
    }

    /// A firing is admitted under the limits its key has at that moment: a spent daily budget refuses it, with the
    /// reason on the firing; the cron stays on for the next time.
    @Test func theKeysLimitsApplyAtFiring() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write"], dailyTokenBudget: 50)
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", Self.body, key: key))["cron_id"] as? String)
        let keyID = try #require(try await h.store.keys().first?.id)
        try await h.store.addUsage(key: keyID, day: Budget.today(), tokens: 50)
        var due = CronChange()
        due.nextRunDate = .some(Date() - 1)
        _ = try await h.store.updateCron(tenant: "a", id: id, due, now: Date())
        try await eventually("the firing to be refused") { try await h.store.cronFirings(cron: id, limit: 1).first?.status == .failed }
        let firing = try #require(try await h.store.cronFirings(cron: id, limit: 1).first)
        #expect(firing.detail?.hasPrefix("daily_token_budget_exceeded") == true, "\(firing.detail ?? "")")
        #expect(try await h.store.run(firing.runID) == nil)
        let cron = try #require(try await h.store.cron(tenant: "a", id: id))
        #expect(cron.enabled && (cron.nextRunDate ?? .distantPast) > Date())
    }

    /// A cron may run a stored assistant: its firings carry the assistant's settings, as any run of it does.
    @Test func aCronMayNameAnAssistant() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["crons:write", "assistants:write", "agents:read"])
        let made = await call(h, "POST", "/assistants", #"{"graph_id":"echo","assistant_id":"digest","context":{"instructions":"Be terse."}}"#, key: key)
        #expect(made.status == 200)
        let cron = try await jsonObject(call(h, "POST", "/runs/crons", #"{"assistant_id":"digest","schedule":"0 9 * * *","input":{"messages":[{"role":"user","content":"x"}]}}"#, key: key))
        #expect(cron["assistant_id"] as? String == "digest")
        let id = try #require(cron["cron_id"] as? String)
        let job = try RunJob.decode(try #require(try await h.store.cron(tenant: "a", id: id)).job)
        #expect(job.agentID == "echo" && job.assistantID == "digest")
        // Another tenant's assistant of that name does not exist for this one.
        let other = try await h.makeKey(tenant: "b", scopes: ["crons:write"])
        #expect(await call(h, "POST", "/runs/crons", #"{"assistant_id":"digest","schedule":"0 9 * * *","input":{"messages":[{"role":"user","content":"x"}]}}"#, key: other).status == 404)
    }

    /// A cron fires as whoever changed it last; a body over 64 KiB is refused.
    @Test func aChangeMakesTheCronTheChangersAndBodiesAreBounded() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let maker = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let changer = try await h.makeKey(tenant: "a", scopes: ["crons:write"])
        let id = try #require(try await jsonObject(call(h, "POST", "/runs/crons", Self.body, key: maker))["cron_id"] as? String)
        let keys = try await h.store.keys()
        #expect(try await h.store.cron(tenant: "a", id: id)?.keyID == keys.first { maker.contains($0.id) }?.id)
        #expect(await call(h, "PATCH", "/runs/crons/\(id)", #"{"metadata":{"by":"changer"}}"#, key: changer).status == 200)
        #expect(try await h.store.cron(tenant: "a", id: id)?.keyID == keys.first { changer.contains($0.id) }?.id)
        let big = #"{"assistant_id":"echo","schedule":"0 9 * * *","input":{"messages":[{"role":"user","content":"\#(String(repeating: "x", count: 70_000))"}]}}"#
        let refused = await call(h, "POST", "/runs/crons", big, key: maker)
        #expect(refused.status == 413)
    }

    @Test func firingRunIDsAreStablePerCronAndTime() throws {
        let time = try Self.iso("2026-01-01T00:00:00Z")
        let id = RunEngine.firingRunID(cron: "c", at: time)
        #expect(id == RunEngine.firingRunID(cron: "c", at: time))
        #expect(id != RunEngine.firingRunID(cron: "c", at: time + 60) && id != RunEngine.firingRunID(cron: "d", at: time))
        #expect(id.count == 36 && UUID(uuidString: id) != nil)
    }
}
