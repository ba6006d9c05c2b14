import HTTPTypes
import AgentRuntime
import Foundation
@testable import Handlers
import Runs
import Store
import TestSupport
import Testing

/// The small findings of the hostile audit (#24, item 14): what an error shows, what a path means, how a number
/// out of range is reported.
@Suite struct HardeningTests {
    /// An error names a thread as its client knows it, never by the stored key with its tenant.
    @Test func errorsNeverShowTheTenantPrefix() async throws {
        let h = try ThreadHarness(requireKeys: true)
        let key = try await h.makeKey(tenant: "acme", scopes: ["admin"])
        let headers = [("X-Api-Key", key)]
        #expect(await h.call("POST", "/threads", #"{"thread_id":"t"}"#, headers: headers).status == 200)
        #expect(await h.call("POST", "/threads/t/runs/wait", ThreadHarness.input("hi"), headers: headers).status == 200)
        let probes: [(String, String, String?)] = [
            ("GET", "/threads/t/state/no-such-checkpoint", nil),
            ("POST", "/threads/t/state/checkpoint", #"{"checkpoint":{"checkpoint_id":"nope"}}"#),
            ("POST", "/threads/t/runs/wait", ThreadHarness.input("x", extra: #","checkpoint_id":"nope""#)),
            ("GET", "/threads/t/runs/no-such-run", nil),
            ("GET", "/threads/nope", nil),
            ("POST", "/runs/cancel", #"{"thread_id":"t","run_ids":["nope"]}"#),
        ]
        for (method, path, body) in probes {
            let response = await h.call(method, path, body, headers: headers)
            let text = try await bodyText(response)
            #expect(response.status == 404, "\(method) \(path): \(response.status) \(text)")
            #expect(!text.contains(Tenancy.separator) && !text.contains("acme"), "\(method) \(path): \(text)")
        }
    }

    /// A run's attempt log tells its workers apart by a hash: host names and process ids stay in the server's log.
    @Test func attemptLogsHideWorkerIdentities() async throws {
        let h = try ThreadHarness()
        #expect(await h.call("POST", "/threads", #"{"thread_id":"t"}"#).status == 200)
        let run = try await h.json("POST", "/threads/t/runs", ThreadHarness.input("hi"))
        let runID = try #require(run["run_id"] as? String)
        _ = await h.call("GET", "/threads/t/runs/\(runID)/join")
        let log = try #require(try await h.json("GET", "/threads/t/runs/\(runID)")["attempt_log"] as? [[String: Any]])
        let worker = try #require(log.first?["worker"] as? String)
        #expect(worker.count == 12 && worker.allSatisfy(\.isHexDigit) && !worker.contains("test-worker"), "\(worker)")
        #expect(try await h.store.run(runID)?.attemptLog.contains("test-worker") == true, "the store keeps the real name")
    }

    /// Another process holding SQLite's write lock past the busy timeout: each dialect answers 503 `store_busy` with
    /// Retry-After in its own shape, nothing half-written; a run's usage is counted once the lock is gone.
    @Test func aLockedDatabaseIsA503ToRetryAndLosesNoUsage() async throws {
        let h = try ThreadHarness(requireKeys: true, busyTimeout: 0.3)
        let key = try await h.makeKey(tenant: "t", scopes: ["admin"])
        let headers = [("X-Api-Key", key)]
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(float(sys.argv[2]))
            """, h.path, "3"]
        let output = Pipe()
        holder.standardOutput = output
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) }; holder.waitUntilExit() }
        #expect(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("locked"))

        let thread = await h.call("POST", "/threads", #"{"thread_id":"t1"}"#, headers: headers)
        let problem = try await jsonObject(thread)
        #expect(thread.status == 503 && problem["code"] as? String == "store_busy", "\(problem)")
        #expect(thread.headers[.retryAfter] == "1")
        let openAI = try await jsonObject(h.call("POST", "/v1/responses", #"{"model":"echo","input":"hi"}"#, headers: headers))
        #expect((openAI["error"] as? [String: Any])?["code"] as? String == "store_busy", "\(openAI)")
        let mcp = try await jsonObject(h.call("POST", "/mcp", #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
                                              headers: headers))
        #expect(mcp["error"] != nil, "\(mcp)")
        // A stateless run reads only: it answers, and its tokens wait for the lock.
        #expect(await h.call("POST", "/runs/wait", ThreadHarness.input("count me"), headers: headers).status == 200)
        let keyID = String(key.dropFirst(4).prefix(12))
        holder.waitUntilExit()
        let store = h.store
        let day = Date().formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
        try await waiting(for: "the run's usage to be counted") {
            while try await store.usage(key: keyID, day: day) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        // Nothing of the refused requests was written.
        #expect(try await h.store.thread(Tenancy.internalID("t1", tenant: "t")) == nil)
        #expect(await h.call("POST", "/threads", #"{"thread_id":"t1"}"#, headers: headers).status == 200)
    }

    /// `+` in a path is a plus (RFC 3986); only a query string's `+` is a space. A thread named `a+b` is reachable,
    /// also through the `Content-Location` the server gives for its runs.
    @Test func aPlusInAPathIsAPlus() async throws {
        let h = try ThreadHarness()
        #expect(await h.call("POST", "/threads", #"{"thread_id":"a+b"}"#).status == 200)
        #expect(try await h.json("GET", "/threads/a+b")["thread_id"] as? String == "a+b")
        #expect(try await h.json("GET", "/threads/a%2Bb")["thread_id"] as? String == "a+b")
        let queued = await h.call("POST", "/threads/a+b/runs", ThreadHarness.input("plus"))
        let location = try #require(queued.headers[.contentLocation])
        #expect(await h.call("GET", location).status == 200, "\(location)")
        #expect(await h.call("GET", "/threads/a%20b").status != 200)
    }

    /// A JSON number a field cannot hold is that field's 422, not a malformed body.
    @Test func aNumberOutOfRangeIsTheFieldsError() async throws {
        let h = try ThreadHarness()
        for (path, body, field) in [("/threads/search", #"{"offset": 3.7e22}"#, "offset"), ("/threads/search", #"{"limit": 1e300}"#, "limit"),
                                    ("/assistants/search", #"{"limit": -9.9e99}"#, "limit"), ("/runs/search", #"{"offset": 1.5}"#, "offset")] {
            let response = await h.call("POST", path, body)
            let problem = try await jsonObject(response)
            #expect(response.status == 422, "\(body): \(problem)")
            #expect(problem["field"] as? String == field, "\(body): \(problem)")
        }
        // The largest offset a field holds is refused, not added to (an overflow would stop the worker).
        let huge = await h.call("POST", "/assistants/search", #"{"offset": 9223372036854775807}"#)
        let hugeProblem = try await jsonObject(huge)
        #expect(huge.status == 422 && hugeProblem["field"] as? String == "offset")
        // Broken JSON stays a 400.
        #expect(await h.call("POST", "/threads/search", #"{"offset": 1e}"#).status == 400)
    }
}
