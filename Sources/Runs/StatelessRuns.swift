import AgentRuntime
import Logging
import Synchronization

extension RunEngine {
    /// Runs a job that is not stored: the same pipeline as a stored run, its events handed to `emit` as they happen
    /// rather than logged. With `Disconnect.cancel` it runs in the caller's task (a client that leaves stops it); with
    /// `.continue` in a task of its own, its events dropped once `emit` fails.
    /// `emit` nil: nobody reads the events (the caller answers with the outcome), and they are not made.
    public func runStateless(_ job: RunJob, runID: String, admission: Admission, logger: Logger,
                             emit: (@Sendable (RunLogEvent) async throws -> Void)?) async throws -> RunOutcome {
        let (execution, local) = try statelessExecution(job, runID: runID, admission: admission, logger: logger, emit: emit)
        defer { unregister(runID) }
        if job.onDisconnect == .continue {
            let task = Task { await execution.execute() }
            local.start { task.cancel() }
            return await task.value
        }
        // In the caller's own task: no second task, its memory and its hop, per run. The server's shutdown marks the
        // run first (the reason its stream then reports) and the transport cancels the request's task after it.
        return await withTaskCancellationHandler { await execution.execute() } onCancel: {
            local.cancel(.interrupt, reason: "client_disconnected")
        }
    }

    /// Made apart from `runStateless`, which stays suspended for the whole run: what it builds here is not kept in
    /// its async frame.
    @inline(never)
    private func statelessExecution(_ job: RunJob, runID: String, admission: Admission, logger: Logger,
                                    emit: (@Sendable (RunLogEvent) async throws -> Void)?) throws -> (RunExecution, LocalRun) {
        let agent = try agent(for: job)
        let local = LocalRun(id: runID, stored: false)
        let persistence = StatelessRun(admission: admission, emit: emit ?? { _ in }, observesEvents: emit != nil,
                                       tolerant: job.onDisconnect == .continue)
        let execution = RunExecution(engine: self, runID: runID, threadID: nil, agent: agent, input: job.messages, values: job.values,
                                     clientTools: job.clientTools ?? [], local: local, logger: logger, persistence: persistence,
                                     origin: job.origin, tenant: admission.caller.tenant, traceParent: job.traceParent)
        register(local)
        return (execution, local)
    }
}

/// A stateless run's place under its key's `max_concurrent_runs`. Given back when the run ends, and also when it
/// never starts: a stream whose client left before the head went out is dropped by the transport without its body
/// ever running, and the place goes back as the body's closure (and this with it) is released.
public final class Admission: Sendable {
    private let release: (@Sendable () async -> Void)?
    private let settle: (@Sendable (Usage) async -> Void)?
    /// The run's hold on its key's daily budget, when the key has one.
    let budget: BudgetMeter?
    /// The key that runs it (none when the server runs without keys).
    let caller: RunCaller
    private let open = Atomic<Bool>(true)

    init(release: (@Sendable () async -> Void)? = nil, budget: BudgetMeter? = nil, caller: RunCaller = RunCaller(tenant: "", keyID: nil),
         settle: (@Sendable (Usage) async -> Void)? = nil) {
        self.release = release
        self.budget = budget
        self.caller = caller
        self.settle = settle
    }

    /// The run is over: the place goes back and its usage is counted. Once; later calls do nothing.
    func end(_ usage: Usage) async {
        guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
        await release?()
        await settle?(usage)
    }

    deinit {
        guard open.load(ordering: .acquiring) else { return }
        // Never started: its place and its reservation go back.
        if let release { Task { await release() } }
        if let budget { Task { await budget.settle(used: 0) } }
    }
}
