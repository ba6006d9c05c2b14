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
    /// asked, whichever worker the answer reached. Kept beside the call handles, and pruned with them.
    public func recordAnswer(scope: String, handle: String, answer: String) async throws {
        try await store.putCallHandle(scope: scope, handle: "answer:" + handle, runID: answer, now: Date())
    }

    public func answer(scope: String, handle: String) async throws -> String? {
        try await store.callHandle(scope: scope, handle: "answer:" + handle)
    }

    public func forgetAnswer(scope: String, handle: String, answer: String) async {
        try? await store.removeCallHandle(scope: scope, handle: "answer:" + handle, runID: answer)
    }
}
