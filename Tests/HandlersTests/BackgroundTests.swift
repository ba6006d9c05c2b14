import HTTPTypes
import Runs
import AgentRuntime
import Foundation
@testable import Handlers
import Store
import Testing

@Suite struct BackgroundRunTests {
    func run(_ h: ThreadHarness, _ location: String) async throws -> [String: Any] {
        try await h.json("GET", location)
    }

    @Test func aQueuedRunAnswersAtOnceAndAnExecutorRunsIt() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        let created = await h.call("POST", "/threads/\(thread)/runs", ThreadHarness.input("in the background"))
        #expect(created.status == 200)
        let body = try await jsonObject(created)
        #expect(body["status"] as? String == "pending")
        let location = try #require(created.headers[.contentLocation])
        let joined = try await h.json("GET", location + "/join")
        #expect(messageContents(joined) == ["in the background", "You said: in the background"])
        let done = try await run(h, location)
        #expect(done["status"] as? String == "success")
        #expect(done["attempts"] as? Int == 1)
        // Its events are in the log like any run's.
        let frames = parseSSE(try await bodyText(h.call("GET", location + "/stream")))
        #expect(frames.first?.event == "metadata" && frames.last?.event == "end")
    }

    @Test func afterSecondsDelaysTheStart() async throws {
        let h = try ThreadHarness()
        let posted = ContinuousClock.now
        let created = try await h.json("POST", "/runs", ThreadHarness.input("later", extra: #","after_seconds":1"#))
        let runID = try #require(created["run_id"] as? String)
        #expect(created["thread_id"] as? String != nil)
        // A look before the second is up finds the run still queued (the echo agent would otherwise be done at
        // once). Only a look that certainly came before it counts: on a busy machine this one may come later.
        let status = try await h.json("GET", "/runs/\(runID)")["status"] as? String
        if ContinuousClock.now - posted < .milliseconds(900) {
            #expect(status == "pending")
        }
        let joined = try await h.json("GET", "/runs/\(runID)/wait")
        #expect(messageContents(joined).last == "You said: later")
        // A lower bound, which holds however busy the machine is: the run did not end before its second was up.
        #expect(ContinuousClock.now - posted >= .seconds(1))
    }

    @Test func cancellingAQueuedRunStopsItBeforeItStarts() async throws {
        let h = try ThreadHarness()
        let created = try await h.json("POST", "/runs", ThreadHarness.input("never", extra: #","after_seconds":30"#))
        let runID = try #require(created["run_id"] as? String)
        let cancelled = await h.call("POST", "/runs/\(runID)/cancel")
        #expect(cancelled.status == 202)
        #expect(try await jsonObject(cancelled)["status"] as? String == "interrupted")
    }

    @Test func anIdempotencyKeyReplaysTheFirstAnswerAndStartsNothingNew() async throws {
        let h = try ThreadHarness()
        let thread = try await h.newThread()
        let body = ThreadHarness.input("once")
        let first = await h.call("POST", "/threads/\(thread)/runs", body, headers: [("Idempotency-Key", "abc-1")])
        let second = await h.call("POST", "/threads/\(thread)/runs", body, headers: [("Idempotency-Key", "abc-1")])
        #expect(first.status == 200 && second.status == 200)
        #expect(second.headers[.idempotentReplayed] == "true")
        #expect(try await jsonObject(first)["run_id"] as? String == (try await jsonObject(second))["run_id"] as? String)
        let other = await h.call("POST", "/threads/\(thread)/runs", ThreadHarness.input("twice"), headers: [("Idempotency-Key", "abc-1")])
        #expect(other.status == 422)
        #expect(try await jsonObject(other)["code"] as? String == "idempotency_key_reused")
        // A key whose first request failed may be used again.
        let failed = await h.call("POST", "/threads/nope/runs", body, headers: [("Idempotency-Key", "abc-2")])
        #expect(failed.status == 404)
        #expect(await h.call("POST", "/threads", #"{"thread_id":"nope"}"#, headers: [("Idempotency-Key", "t-1")]).status == 200)
        #expect(await h.call("POST", "/threads", #"{"thread_id":"nope"}"#, headers: [("Idempotency-Key", "t-1")]).headers[.idempotentReplayed] == "true")
        #expect(await h.call("POST", "/threads/nope/runs", body, headers: [("Idempotency-Key", "abc-2")]).status == 200)
        try await waitFor {
            let runs = try? JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
            return runs?.count == 1 && runs?.first?["status"] as? String == "success"
        }
        // A retried wait joins the first run instead of starting another.
        let waitBody = ThreadHarness.input("wait once")
        let waited = try await jsonObject(h.call("POST", "/threads/\(thread)/runs/wait", waitBody, headers: [("Idempotency-Key", "w-1")]))
        let again = await h.call("POST", "/threads/\(thread)/runs/wait", waitBody, headers: [("Idempotency-Key", "w-1")])
        #expect(again.headers[.idempotentReplayed] == "true")
        #expect(messageContents(try await jsonObject(again)) == messageContents(waited))
        let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(h.call("GET", "/threads/\(thread)/runs")).utf8)) as? [[String: Any]]
        #expect(runs?.count == 2)
        #expect(await h.call("POST", "/threads", "{}", headers: [("Idempotency-Key", String(repeating: "k", count: 300))]).status == 422)
    }

    @Test func webhooksNeedASecretAndARoutableURL() async throws {
        let h = try ThreadHarness()
        let unsigned = await h.call("POST", "/runs", ThreadHarness.input("x", extra: #","webhook":"https://hooks.example.com/a""#))
        #expect(unsigned.status == 422)
        #expect(try await jsonObject(unsigned)["field"] as? String == "webhook")

        let signed = try ThreadHarness(webhooks: WebhookSettings(secretEnvironment: "X", allowHosts: []))
        for url in ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "ftp://example.com/x", "not a url", "http://user:pw@example.com/x"] {
            let response = await signed.call("POST", "/runs", ThreadHarness.input("x", extra: #","webhook":"\#(url)""#))
            #expect(response.status == 422, "\(url)")
        }
        let ok = await signed.call("POST", "/runs", ThreadHarness.input("x", extra: #","webhook":"https://hooks.example.com/a""#))
        #expect(ok.status == 200)
        let listed = try ThreadHarness(webhooks: WebhookSettings(secretEnvironment: "X", allowHosts: ["127.0.0.1"]))
        #expect(await listed.call("POST", "/runs", ThreadHarness.input("x", extra: #","webhook":"http://127.0.0.1:9/x""#)).status == 200)
        #expect(await listed.call("POST", "/runs", ThreadHarness.input("x", extra: #","webhook":"https://hooks.example.com/a""#)).status == 422)
    }
}

@Suite struct WebhookSignatureTests {
    /// The Standard Webhooks specification's own example.
    @Test func signsLikeStandardWebhooks() throws {
        let signer = try WebhookSigner(secrets: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                         body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func rotationSignsWithEverySecret() throws {
        let old = WebhookSigner.newSecret(), new = WebhookSigner.newSecret()
        let both = try WebhookSigner(secrets: "\(new) \(old)")
        let body = Array("{}".utf8)
        let parts = both.signature(id: "msg_1", timestamp: 1, body: body).split(separator: " ").map(String.init)
        #expect(parts == [try WebhookSigner(secrets: new).signature(id: "msg_1", timestamp: 1, body: body),
                          try WebhookSigner(secrets: old).signature(id: "msg_1", timestamp: 1, body: body)])
        #expect(throws: WebhookSigner.SecretError.self) { try WebhookSigner(secrets: "secret") }
        #expect(throws: WebhookSigner.SecretError.self) { try WebhookSigner(secrets: "whsec_c2hvcnQ=") }
    }
}
