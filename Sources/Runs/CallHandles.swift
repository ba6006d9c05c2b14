import Foundation
import Synchronization
import Logging
import Store

extension RunEngine {
    /// Names a run by the caller's handle while it runs (MCP's JSON-RPC request id), for a cancel from any worker.
    public func bindCall(scope: String, handle: String, runID: String) async throws {
        try await store.putCallHandle(scope: scope, handle: handle, runID: runID, now: Date())
    }

    /// Forgets the handle once its run ended; errors are logged, never thrown (the run's answer matters more).
    public func unbindCall(scope: String, handle: String, runID: String) async {
        do {
            try await store.removeCallHandle(scope: scope, handle: handle, runID: runID)
        } catch {
            // Left behind, the handle names an ended run (a cancel then finds nothing to do) until it is pruned.
            logger.warning("call.unbind_failed", metadata: ["run.id": .string(runID), "error": "\(error)"])
        }
    }

    /// Cancels (interrupt) the run bound to the handle, if any; nil when none is bound or it already ended.
    public func cancelCall(scope: String, handle: String) async throws -> RunRecord? {
        guard let runID = try await store.callHandle(scope: scope, handle: handle) else { return nil }
        // Read first: the store answers a cancel of an ended run with the run as it ended, which is not a cancel.
        guard let run = try await store.run(runID), run.status.isActive else { return nil }
        return try await cancel(runID, action: .interrupt)
    }

    /// A secret shared by every worker and host (32 random bytes, kept in the store by whichever process asked first).
    public func sharedSecret(named name: String) async throws -> [UInt8] {
        if let known = secrets.withLock({ $0[name] }) { return known }
        var candidate = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in candidate.indices { candidate[index] = generator.next() }
        let kept = try await store.secret(named: name, candidate: candidate)
        secrets.withLock { $0[name] = kept }
        return kept
    }

    /// Keeps what a caller answered to a request of the server's (MCP's `elicitation/create`), for the worker that
    /// asked, whichever worker the answer reached. Kept beside the call handles, and pruned with them. The asking
    /// worker is woken (`waitingForAnswers`), here or through the store's notices.
    public func recordAnswer(scope: String, approval: String, form: String, answer: String) async throws {
        try await store.putCallHandle(scope: scope, handle: "answer:" + approval + ":" + form, runID: answer, now: Date())
        ring(Self.answerBell(approval))
        await notices?.notify(.answered(approval: approval))
    }

    static func answerBell(_ approval: String) -> String { "answer:" + approval }

    /// Runs `body` with a wait that returns once an answer to the approval's forms may have come (recorded here or
    /// told by another worker), after a fallback look (1 s; 250 ms when the store sends no notices), or on
    /// cancellation. `body` reads the answers after each wait: a ring between the two is not lost.
    public func waitingForAnswers<T>(to approval: String, _ body: (_ wait: () async -> Void) async throws -> T) async throws -> T {
        let key = Self.answerBell(approval)
        let bell = acquireBell(key)
        defer { releaseBell(key) }
        var generation = bell.generation
        let fallback: Duration = notices == nil ? .milliseconds(250) : .seconds(1)
        return try await body {
            await bell.wait(since: generation, timeout: fallback, watchdog: watchdog)
            generation = bell.generation
        }
    }

    public func answer(scope: String, approval: String, form: String) async throws -> String? {
        try await store.callHandle(scope: scope, handle: "answer:" + approval + ":" + form)
    }

    public func forgetAnswer(scope: String, approval: String, form: String, answer: String) async {
        try? await store.removeCallHandle(scope: scope, handle: "answer:" + approval + ":" + form, runID: answer)
    }
}
