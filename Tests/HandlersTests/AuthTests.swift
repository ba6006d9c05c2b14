import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Store
import Testing

@Suite struct AuthTests {
    func call(_ h: ThreadHarness, _ method: String, _ path: String, _ body: String? = nil, key: String?) async -> Response {
        await h.call(method, path, body, headers: key.map { [("X-Api-Key", $0)] } ?? [])
    }

    @Test func everyOperationButHealthInfoAndMetricsNeedsAKey() async throws {
        let h = try ThreadHarness(requireKeys: true)
        for route in h.app.router.routes {
            let path = route.path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "x", options: .regularExpression)
            let response = await call(h, route.method, path, route.method == "GET" || route.method == "DELETE" ? nil : "{}", key: nil)
            switch route.access {
            case .open:
                // /metrics: this harness has no metrics backend, so its 404 (not a 401) is the answer without a key.
                #expect(response.status == (route.operationID == "metrics" ? 404 : 200), "\(route.method) \(route.path)")
            case .scope(let scope):
                #expect(response.status == 401, "\(route.method) \(route.path) answered \(response.status) without a key")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(APIKeys.scopes.contains(scope), "\(route.operationID): unknown scope \(scope)")
            case .perOperation:
                // Any valid key first; the handler checks each operation's scope (MCPTests).
                #expect(response.status == 401, "\(route.method) \(route.path) answered \(response.status) without a key")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
        }
        #expect(h.app.router.routes.filter { $0.access == .open }.map(\.operationID).sorted() == ["health", "info", "metrics"])
    }

    /// What the runs: scopes reach of threads, as docs/security.md states it: a run's thread values and the thread a
    /// run names, nothing else of threads.
    @Test func runScopesReachTheirRunsThreadsAndNoMore() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let runs = try await h.makeKey(tenant: "t", scopes: ["runs:read", "runs:write"])
        let created = await call(h, "POST", "/threads/new-one/runs/wait", ThreadHarness.input("hi", extra: #","if_not_exists":"create""#), key: runs)
        #expect(created.status == 200)
        #expect(messageContents(try await jsonObject(created)) == ["hi", "You said: hi"])
        let listed = try JSONSerialization.jsonObject(with: Data(try await bodyText(call(h, "GET", "/threads/new-one/runs", key: runs)).utf8)) as? [[String: Any]]
        let runID = try #require(listed?.first?["run_id"] as? String)
        #expect(await call(h, "GET", "/threads/new-one/runs/\(runID)/join", key: runs).status == 200)
        for (method, path, body) in [("GET", "/threads/new-one", nil), ("GET", "/threads/new-one/state", nil), ("POST", "/threads/search", "{}"),
                                     ("POST", "/threads", "{}"), ("PATCH", "/threads/new-one", "{}"), ("DELETE", "/threads/new-one", nil),
                                     ("POST", "/threads/new-one/copy", nil), ("GET", "/threads/new-one/history", nil)] {
            #expect(await call(h, method, path, body, key: runs).status == 403, "\(method) \(path)")
        }
    }

    @Test func keysScopesAndRevocation() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let reader = try await h.makeKey(tenant: "t", scopes: ["agents:read"])
        #expect(await call(h, "POST", "/agents/search", "{}", key: reader).status == 200)
        #expect(await h.call("POST", "/agents/search", "{}", headers: [("Authorization", "Bearer \(reader)")]).status == 200)
        let forbidden = await call(h, "POST", "/runs/wait", ThreadHarness.input("x"), key: reader)
        #expect(forbidden.status == 403)
        #expect(try await jsonObject(forbidden)["code"] as? String == "forbidden")
        #expect(await call(h, "POST", "/agents/search", "{}", key: reader + "x").status == 401)
        #expect(await call(h, "POST", "/agents/search", "{}", key: "sk-not-ours").status == 401)
        let id = String(reader.dropFirst(4).prefix(12))
        #expect(try await h.store.revokeKey(id))
        #expect(await call(h, "POST", "/agents/search", "{}", key: reader).status == 401)
        // The secret is not stored: only its hash.
        let stored = try await h.store.keys()
        #expect(stored.allSatisfy { !$0.hash.contains(reader) && $0.hash.count == 64 })
    }

    /// Tenant B, with an admin key, gets 404 for everything of tenant A's on every route that names it, and
    /// sees none of it in searches; then A still has all of it.
    @Test func anotherTenantGetsNotFoundEverywhere() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let b = try await h.makeKey(tenant: "b", scopes: ["admin"])
        #expect(await call(h, "POST", "/threads", #"{"thread_id":"shared"}"#, key: a).status == 200)
        let waited = await call(h, "POST", "/threads/shared/runs/wait", ThreadHarness.input("secret of a"), key: a)
        #expect(waited.status == 200)
        let runs = try JSONSerialization.jsonObject(with: Data(try await bodyText(call(h, "GET", "/threads/shared/runs", key: a)).utf8)) as? [[String: Any]]
        let runID = try #require(runs?.first?["run_id"] as? String)
        #expect(runs?.first?["thread_id"] as? String == "shared", "ids are shown without the tenant")
        let state = try await jsonObject(call(h, "GET", "/threads/shared/state", key: a))
        let checkpoint = try #require((state["checkpoint"] as? [String: Any])?["checkpoint_id"] as? String)

        var checked = 0
        // run.start creates the thread it names (langgraph-sdk mints ids): b's "shared" is b's own, checked below.
        for route in h.app.router.routes where (route.path.contains("{thread_id}") || route.path.contains("{run_id}"))
            && !route.path.hasSuffix("/commands") {
            let path = route.path.replacingOccurrences(of: "{thread_id}", with: "shared").replacingOccurrences(of: "{run_id}", with: runID)
                .replacingOccurrences(of: "{checkpoint_id}", with: checkpoint)
            let body: String? = route.method == "GET" || route.method == "DELETE" ? nil
                : route.path.hasSuffix("/stream/events") ? #"{"channels":["values","messages"],"since":0}"#
                : (route.path.hasSuffix("/runs") || route.path.hasSuffix("/wait") || route.path.hasSuffix("/stream") ? ThreadHarness.input("b was here") : "{}")
            let response = await call(h, route.method, path, body, key: b)
            #expect(response.status == 404, "\(route.method) \(path) gave tenant b \(response.status)")
            let text = try await bodyText(response)
            #expect(!text.contains("secret of a"))
            checked += 1
        }
        #expect(checked >= 20)
        // Searches and lists show b nothing of a's.
        let found = try JSONSerialization.jsonObject(with: Data(try await bodyText(call(h, "POST", "/threads/search", "{}", key: b)).utf8)) as? [Any]
        #expect(found?.isEmpty == true)
        // b may have its own "shared": no collision, no hint that a's exists.
        #expect(await call(h, "POST", "/threads", #"{"thread_id":"shared"}"#, key: b).status == 200)
        let own = try await jsonObject(call(h, "GET", "/threads/shared", key: b))
        #expect(messageContents(own["values"] as? [String: Any] ?? [:]).isEmpty)
        // A thread-stream command from b names b's "shared": its run goes there, a's thread is not touched.
        let started = try await jsonObject(call(h, "POST", "/threads/shared/commands",
                                                #"{"id":1,"method":"run.start","params":{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"b here"}]}}}"#, key: b))
        #expect(started["type"] as? String == "success")
        // Idempotency keys are per tenant too.
        let first = await h.call("POST", "/threads", "{}", headers: [("X-Api-Key", a), ("Idempotency-Key", "same")])
        let other = await h.call("POST", "/threads", "{}", headers: [("X-Api-Key", b), ("Idempotency-Key", "same")])
        #expect(first.headers[.idempotentReplayed] == nil && other.headers[.idempotentReplayed] == nil)
        // a's thread and run are intact.
        let again = try await jsonObject(call(h, "GET", "/threads/shared/state", key: a))
        #expect(messageContents(again["values"] as? [String: Any] ?? [:]) == ["secret of a", "You said: secret of a"])
        #expect(await call(h, "GET", "/runs/\(runID)", key: a).status == 200)
    }

    @Test func concurrentRunsAndDailyBudgetPerKey() async throws {
        // The slow run makes its tokens only once the test opens the gate: it is in flight until then.
        let clock = GateClock()
        let h = try ThreadHarness(requireKeys: true, clock: clock)
        let one = try await h.makeKey(tenant: "c", scopes: ["admin"], maxConcurrentRuns: 1)
        let thread = try #require(try await jsonObject(call(h, "POST", "/threads", "{}", key: one))["thread_id"] as? String)
        let long = (1...20).map { "w\($0)" }.joined(separator: " ")
        let running = await call(h, "POST", "/threads/\(thread)/runs/stream", ThreadHarness.input(long, agent: "slow"), key: one)
        let reader = Task { try await bodyText(running) }
        let second = await call(h, "POST", "/runs", ThreadHarness.input("x"), key: one)
        #expect(second.status == 429)
        #expect(try await jsonObject(second)["code"] as? String == "concurrent_runs_exceeded")
        #expect(second.headers[.retryAfter] != nil)
        // One count across both kinds: the stored run in flight holds the key's only place.
        let stateless = await call(h, "POST", "/runs/wait", ThreadHarness.input("x"), key: one)
        #expect(stateless.status == 429)
        #expect(try await jsonObject(stateless)["code"] as? String == "concurrent_runs_exceeded")
        clock.open()
        _ = try await reader.value
        try await waitFor { await call(h, "POST", "/runs", ThreadHarness.input("x"), key: one).status == 200 }

        let budget = try await h.makeKey(tenant: "c", scopes: ["admin"], dailyTokenBudget: 5)
        #expect(await call(h, "POST", "/runs/wait", ThreadHarness.input("spend some tokens here please"), key: budget).status == 200)
        let refused = await call(h, "POST", "/runs/wait", ThreadHarness.input("more"), key: budget)
        #expect(refused.status == 429)
        #expect(try await jsonObject(refused)["code"] as? String == "daily_token_budget_exceeded")
        #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 > 0)
        #expect(await call(h, "POST", "/runs", ThreadHarness.input("more"), key: budget).status == 429)
    }
}

extension AuthTests {
    /// A daily budget is reserved when a run is admitted, not only checked: runs admitted together cannot spend it
    /// twice over (before, 20 parallel runs on a budget of 10 spent 2,540 tokens).
    @Test func aBudgetIsReservedAtAdmission() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "c", scopes: ["admin"], dailyTokenBudget: 10)
        let statuses = await withTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let path = index % 2 == 0 ? "/runs/wait" : "/v1/chat/completions"
                    let body = index % 2 == 0 ? ThreadHarness.input("hi there")
                        : #"{"model":"echo","messages":[{"role":"user","content":"hi there"}]}"#
                    return await self.call(h, "POST", path, body, key: key).status.code
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 } && statuses.contains(200), "\(statuses)")
        let keyID = String(key.dropFirst(4).prefix(12))
        let spent = try await h.store.usage(key: keyID, day: Date().formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day()))
        // One answer of "You said: hi there" is about 6 tokens: at most the budget and the last run's overshoot.
        #expect(spent <= 16, "spent \(spent) of 10 with \(statuses.filter { $0 == 200 }.count) runs answered")
        // Then one run at a time: admitted exactly while some of the 10 is left, refused once it is spent. How much the
        // twenty left depends on the order they were admitted and settled in (when all reserved before any settled,
        // the first held the whole 10 and gave 4 back), so each answer is checked against the count before it.
        let day = Date().formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
        var before = spent
        for attempt in 1...3 {
            let status = await call(h, "POST", "/runs/wait", ThreadHarness.input("more"), key: key).status.code
            #expect(status == (before < 10 ? 200 : 429), "run \(attempt) after \(before) of 10 spent: \(status)")
            if status == 429 { break }
            before = try await h.store.usage(key: keyID, day: day)
            #expect(before <= 16, "spent \(before) of 10")
        }
        #expect(before >= 10, "three more runs left the budget unspent: \(before) of 10")
    }

    /// A run that goes past its key's budget stops before its next step: the tool it asked for does not run and the
    /// model is not called again.
    @Test func aRunPastTheBudgetStopsBeforeItsNextStep() async throws {
        let agents = ThreadHarness.agents + [AgentDefinition(id: "calc", model: ModelSettings(tokenDelay: .zero), tools: [ConfiguredTool(CalculatorTool())])]
        let h = try ThreadHarness(agents: agents, requireKeys: true)
        let key = try await h.makeKey(tenant: "c", scopes: ["admin"], dailyTokenBudget: 3)
        #expect(await call(h, "POST", "/threads", #"{"thread_id":"t"}"#, key: key).status == 200)
        let stopped = await call(h, "POST", "/threads/t/runs/wait", ThreadHarness.input("what is 12*3?", agent: "calc"), key: key)
        let values = try await jsonObject(stopped)
        #expect((values["__error__"] as? [String: Any])?["error"] as? String == "daily_token_budget_exceeded", "\(values)")
        let kinds = (values["messages"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
        #expect(!kinds.contains("tool"), "\(kinds)")
        #expect(await call(h, "POST", "/runs/wait", ThreadHarness.input("x"), key: key).status == 429)
    }

    /// A stateless run in flight holds its key's place too: neither a stored run nor another stateless one starts.
    @Test func statelessRunsCountAgainstTheSameLimit() async throws {
        let clock = GateClock()
        let h = try ThreadHarness(requireKeys: true, clock: clock)
        let one = try await h.makeKey(tenant: "c", scopes: ["admin"], maxConcurrentRuns: 1)
        let streaming = await call(h, "POST", "/runs/stream", ThreadHarness.input("a b c", agent: "slow"), key: one)
        #expect(streaming.status == 200)
        let reader = Task { try await bodyText(streaming) }
        try await waitFor { h.engine.activeRuns == 1 }
        let stored = await call(h, "POST", "/runs", ThreadHarness.input("x"), key: one)
        #expect(stored.status == 429)
        #expect(try await jsonObject(stored)["code"] as? String == "concurrent_runs_exceeded")
        #expect(await call(h, "POST", "/runs/wait", ThreadHarness.input("x"), key: one).status == 429)
        clock.open()
        _ = try await reader.value
        try await waitFor { await call(h, "POST", "/runs/wait", ThreadHarness.input("x"), key: one).status == 200 }
        #expect(await call(h, "POST", "/runs", ThreadHarness.input("x"), key: one).status == 200)
    }

    /// No cache may keep an API answer: every answer says `no-store`, errors too; a stream keeps its own `no-cache`.
    @Test func apiAnswersAreNotCached() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "a", scopes: ["admin"])
        #expect(await h.call("POST", "/threads", "{}", headers: [("X-Api-Key", key)]).headers[.cacheControl] == "no-store")
        #expect(await h.call("GET", "/threads/none", headers: [("X-Api-Key", key)]).headers[.cacheControl] == "no-store")
        #expect(await h.call("GET", "/threads/none").headers[.cacheControl] == "no-store", "a 401 too")
        #expect(await h.call("GET", "/ok").headers[.cacheControl] == "no-store")
        let stream = await h.call("POST", "/runs/stream", ThreadHarness.input("x"), headers: [("X-Api-Key", key)])
        #expect(stream.headers.filter { $0.name == .cacheControl }.map(\.value) == ["no-cache"])
    }

    /// Two different keys on one request are refused, not one of them silently preferred; the same key twice is one.
    @Test func twoDifferentKeysAreRefused() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let a = try await h.makeKey(tenant: "a", scopes: ["admin"])
        let b = try await h.makeKey(tenant: "b", scopes: ["admin"])
        let both = await h.call("POST", "/agents/search", "{}", headers: [("X-Api-Key", a), ("Authorization", "Bearer \(b)")])
        #expect(both.status == 401)
        #expect(try await jsonObject(both)["detail"] as? String == "The request carries 2 different API keys: send one.")
        #expect(await h.call("POST", "/agents/search", "{}", headers: [("X-Api-Key", a), ("X-Api-Key", b)]).status == 401)
        #expect(await h.call("POST", "/agents/search", "{}", headers: [("X-Api-Key", a), ("Authorization", "Bearer \(a)")]).status == 200)
        #expect(await h.call("POST", "/agents/search", "{}", headers: [("Authorization", "Bearer \(b)")]).status == 200)
    }

    /// A stateless stream whose client leaves before the head is sent: the transport drops the response without
    /// running its body. The key's place must come back all the same (it leaked before: 30 such requests locked a
    /// key with limit 2 out of every stateless run).
    @Test func aStreamThatNeverStartsGivesItsPlaceBack() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let one = try await h.makeKey(tenant: "c", scopes: ["admin"], maxConcurrentRuns: 1)
        for _ in 0..<3 {
            let abandoned = await call(h, "POST", "/runs/stream", ThreadHarness.input("x"), key: one)
            #expect(abandoned.status == 200)
            // Dropped here, its body never run, as the transport does for a client that is gone.
        }
        let served = await call(h, "POST", "/runs/wait", ThreadHarness.input("still mine"), key: one)
        #expect(served.status == 200, "the abandoned streams kept the key's only place: \(served.status)")
    }
}

@Suite struct InputHardeningTests {
    @Test(arguments: [
        (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), 422, "json_too_deep"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"a\u0000b"}]}}"#, 422, "nul_character"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"# + "\"" + String(repeating: "x", count: 9_000_000) + "\"}]}}", 422, "string_too_long"),
        (#"{"assistant_id":"echo","limit":1e400}"#, 422, "validation_error"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]},"stream_mode":"everything"}"#, 422, "validation_error"),
        (#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"x"}]},"after_seconds":-1}"#, 422, "validation_error"),
        (#"{"assistant_id":"echo","input""#, 400, "malformed_json"),
    ])
    func badBodiesAreRefusedWithTheirCode(body: String, status: Int, code: String) async throws {
        let h = try ThreadHarness()
        let response = await h.call("POST", "/runs/wait", body)
        #expect(response.status.code == status)
        #expect(try await jsonObject(response)["code"] as? String == code)
        #expect(try await h.store.searchThreads(ThreadQuery()).isEmpty)
    }

    @Test func oversizedPathsQueriesAndHeadersAreRefused() async throws {
        let h = try ThreadHarness()
        #expect(await h.call("GET", "/threads/" + String(repeating: "a", count: 3000)).status == 414)
        #expect(await h.call("GET", "/threads/x/runs?limit=1&" + String(repeating: "a=b&", count: 2000)).status == 414)
        #expect(await h.call("GET", "/ok", headers: [("X-Big", String(repeating: "v", count: 9000))]).status == 431)
        #expect(await h.call("GET", "/ok", headers: (0..<120).map { ("X-H\($0)", "v") }).status == 431)
        #expect(await h.call("GET", "/threads/" + String(repeating: "a", count: 200)).status == 422, "ids are at most 128 bytes")
    }
}
