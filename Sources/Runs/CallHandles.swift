import Foundation
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
}
