import AgentRuntime
import Logging
import Store

extension RunExecution {
    @inline(never)
    func fail(_ error: any Error, prepared: Prepared, collected: Collected, started: ContinuousClock.Instant, attempt: Int) async -> RunOutcome {
        await uncancelled { [self] in
            await end(after: error, input: prepared.input, collected: collected, context: prepared.fit.note, started: started, attempt: attempt)
        }
    }

    /// The one place a run that did not succeed ends. Runs uncancelled: the store refuses work from a cancelled
    /// task, and closing the run must not be refused.
    private func end(after error: any Error, input: [ChatMessage], collected: Collected, context: RunResultNote.Context?,
                     started: ContinuousClock.Instant, attempt: Int) async -> RunOutcome {
        let duration: Logger.MetadataValue = "\(milliseconds(since: started))"
        let status: RunStatus
        let problem: RunProblem
        var tell = true
        if error as? StoreError == .busy, local.stored {
            // The store failed under the run (SQLite's lock past its timeout, PostgreSQL restarting or out of reach):
            // the run did not fail, its writes did. It goes back to the queue for another attempt, as a run does when
            // its worker stops. If the store cannot take even that, nothing more is written here: an error written
            // now could land once the store is back and end a run that another attempt would finish. Its lease runs
            // out instead, and expiry requeues it (or, after its attempts or a side effect, ends it as worker_lost),
            // as it does a dead worker's run. Either way the thread gets its messages once, in the finishing transaction.
            let released = await persistence.release()
            logger.warning(released ? "run.released" : "run.left_to_expire", metadata: [
                "reason": "store_unavailable", "attempt": "\(attempt)", "duration_ms": duration,
            ])
            return RunOutcome(status: .pending, error: .handedBack)
        }
        if error is CancellationError || error is ClientDisconnected {
            let (action, reason) = local.cancellation ?? (.interrupt, error is ClientDisconnected ? "client_disconnected" : "cancelled")
            logger.info("run.cancelled", metadata: ["reason": .string(reason), "action": .string(action.rawValue), "duration_ms": duration])
            // Another worker took the run over: nothing here is ours to write.
            if reason == "gone" { return RunOutcome(status: .interrupted, error: .interrupted) }
            // A background run is not the client's: at shutdown it goes back to the queue for another worker.
            if reason == "server_shutdown", local.background, await persistence.release() {
                logger.info("run.released", metadata: ["attempt": "\(attempt)"])
                return RunOutcome(status: .pending, error: nil)
            }
            if action == .rollback {
                let note = RunResultNote(usage: collected.usage, turns: nil, context: context,
                                         error: .init(error: "run_rolled_back", message: reason))
                try? await persistence.finish(.interrupted, messages: [], note: note, rollback: true, quietly: true)
                return RunOutcome(status: .interrupted, error: .interrupted)
            }
            status = .interrupted
            tell = persistence.reportsCancellation || reason == "server_shutdown"
            problem = reason == "server_shutdown"
                ? RunProblem(status: 503, code: "server_shutting_down", message: "The server is restarting; \(persistence.shutdownAdvice)")
                : RunProblem(status: 409, code: "run_interrupted",
                             message: "The run was interrupted (\(reason)); its partial output is kept on the thread.")
        } else {
            status = if case RunFailure.timedOut = error { .timeout } else { .error }
            if let known = RunProblem.ofRun(error) {
                logger.warning("run.failed", metadata: ["error": "\(error)", "duration_ms": duration])
                problem = known
            } else {
                logger.error("run.failed", metadata: ["error": "\(String(reflecting: error))"])
                problem = RunProblem(status: 500, code: "internal_error", message: "The run failed; see the server log for run \(runID).")
            }
        }
        if tell { try? await persistence.append(.error(code: problem.code, message: problem.message)) }
        do {
            try await persistence.finish(status, messages: input + collected.messages,
                                         note: RunResultNote(usage: collected.usage, turns: nil, context: context, error: .init(problem)),
                                         rollback: false, quietly: !tell)
        } catch {
            logger.error("run.store_failed", metadata: ["error": "\(error)"])
            await persistence.end()
        }
        return RunOutcome(status: status, error: status == .interrupted ? .interrupted : problem)
    }
}
