import AgentRuntime
import Foundation
import Logging
import Store
import Telemetry

/// Where a stored run's messages go.
public enum RunThread: Sendable {
    /// A thread that must exist.
    case existing(String)
    /// A thread created now when there is none (LangGraph's `if_not_exists: create`).
    case createIfMissing(String, tenant: String)
    /// A new thread of the run's own, kept as long as the run's events (a run created without a thread), with the
    /// metadata the dialect gives it.
    case own(String, tenant: String, metadata: JSONText)
}

/// A stored run to create: the job, where it runs, who asked, and what the dialect shows back as the run's request.
public struct RunOrder: Sendable {
    public var job: RunJob
    public var thread: RunThread
    public var metadata: JSONText
    /// The request as the client sent it, shown back with the run (LangGraph's `kwargs`).
    public var request: JSONText
    public var quota: RunQuota?
    public var logger: Logger
    /// Keys the dialect stamps on the run's thread (LangGraph's `graph_id`, which its UIs search threads by).
    public var threadMetadata: JSONText?
    /// The run's id when the caller must know it in advance (a cron's firing, queued again after a worker died,
    /// must not make a second run); nil: a new one.
    public var runID: String?
    /// The approval of the thread this run answers (`RunEngine.decisions`): the store makes the run only while that
    /// approval is the one pending, so two answers make one run.
    public var answersApproval: String?

    public init(job: RunJob, thread: RunThread, metadata: JSONText, request: JSONText, quota: RunQuota?, logger: Logger) {
        self.job = job
        self.thread = thread
        self.metadata = metadata
        self.request = request
        self.quota = quota
        self.logger = logger
    }
}

extension RunEngine {
    /// Creates a stored run and starts it in this process, in a task of its own, so that a client leaving does not
    /// stop it unless asked to. It waits for earlier runs of its thread.
    public func start(_ order: RunOrder) async throws -> (RunRecord, LocalRun) {
        let agent = try agent(for: order.job)
        var order = order
        order.job.tenant = order.job.tenant ?? order.quota?.tenant
        order.job.traceParent = order.job.traceParent ?? Traces.traceParent()
        let reservation = try await reserveBudget(&order, agent: agent)
        let record: RunRecord
        do {
            var new: NewRun
            if case .createIfMissing(let id, let tenant) = order.thread {
                // The thread, the run and its start in one transaction.
                new = newRun(order, threadID: id)
                new.newThread = NewThread(id: id, tenant: tenant)
            } else {
                new = newRun(order, threadID: try await prepare(order.thread))
            }
            new.worker = workerID
            new.leaseUntil = leaseDeadline
            new.startsAtOnce = order.job.afterSeconds == 0
            record = try await createRun(new, order.quota, ownThread: order.thread)
        } catch {
            await refund(reservation)
            throw error
        }
        var logger = order.logger
        logger[metadataKey: "run.id"] = .string(record.id)
        logger[metadataKey: "thread.id"] = .string(Tenancy.publicID(record.threadID ?? ""))
        logger[metadataKey: "agent.id"] = .string(agent.id)
        return (record, launch(record, job: order.job, agent: agent, logger: logger, claimed: false))
    }

    /// Queues a background run: stored as pending; this or any worker's engine takes it from the queue.
    public func enqueue(_ order: RunOrder) async throws -> RunRecord {
        var order = order
        order.job.tenant = order.job.tenant ?? order.quota?.tenant
        // A worker that takes it from the queue continues the trace of the request that queued it.
        order.job.traceParent = order.job.traceParent ?? Traces.traceParent()
        // A thread of the run's own has nothing to be busy with: the run queues.
        if case .own = order.thread { order.job.multitaskStrategy = MultitaskStrategy.enqueue.rawValue }
        let reservation = try await reserveBudget(&order, agent: agent(for: order.job))
        let run: RunRecord
        do {
            let threadID = try await prepare(order.thread)
            var new = newRun(order, threadID: threadID)
            new.background = true
            new.notBefore = order.job.afterSeconds > 0 ? Date() + order.job.afterSeconds : nil
            run = try await createRun(new, order.quota, ownThread: order.thread)
        } catch {
            await refund(reservation)
            throw error
        }
        order.logger.info("run.queued", metadata: ["run.id": .string(run.id), "thread.id": .string(Tenancy.publicID(run.threadID ?? "")),
                                                   "agent.id": .string(order.job.agentID)])
        pokeBackground(queued: true)
        if order.job.afterSeconds > 0 { pokeBackground(after: order.job.afterSeconds) }
        return run
    }

    /// A key with a daily budget: the run's estimate taken from it now, and carried in the job.
    private func reserveBudget(_ order: inout RunOrder, agent: AgentDefinition) async throws -> TokenReservation? {
        let job = order.job
        guard let reservation = try await Budget.reserve(order.quota, estimate: { Budget.estimate(agent, input: job.messages) },
                                                         store: store) else { return nil }
        order.job.hold(reservation)
        return reservation
    }

    /// A run that was not made gives its reservation back.
    func refund(_ reservation: TokenReservation?) async {
        guard let reservation else { return }
        await recordUsage(key: reservation.keyID, tokens: -reservation.reserved, day: reservation.day)
    }

    /// The job's agent with the sampling settings the job chose.
    func agent(for job: RunJob) throws -> AgentDefinition {
        var agent = try agent(job.agentID)
        if let binding = job.assistant { agent = binding.apply(to: agent) }
        if let temperature = job.model?.temperature { agent.model.temperature = temperature }
        if let cap = job.model?.maxTokens { agent.model.maxTokens = min(cap, agent.model.maxTokens ?? cap) }
        if let topP = job.model?.topP { agent.model.topP = topP }
        if let stop = job.model?.stop { agent.model.stop = stop }
        if let seed = job.model?.seed { agent.model.seed = seed }
        if let format = job.model?.responseFormat { agent.model.responseFormat = format }
        if let extra = job.instructions, !extra.isEmpty {
            agent.instructions = agent.instructions.isEmpty ? extra : agent.instructions + "\n\n" + extra
        }
        return agent
    }

    func agent(_ id: String) throws -> AgentDefinition {
        guard let agent = catalog.agent(id) else {
            throw RunProblem(status: 404, code: "agent_not_found", message: "No agent with id '\(id.prefix(100))'.", field: "assistant_id")
        }
        return agent
    }

    private func prepare(_ thread: RunThread) async throws -> String {
        switch thread {
        case .existing(let id):
            return id
        case .createIfMissing(let id, let tenant):
            _ = try await store.createThread(NewThread(id: id, tenant: tenant), ifExists: .doNothing)
            return id
        case .own(let id, let tenant, let metadata):
            _ = try await store.createThread(NewThread(id: id, metadata: metadata, ttl: eventRetention, tenant: tenant), ifExists: .raise)
            return id
        }
    }

    private func newRun(_ order: RunOrder, threadID: String) -> NewRun {
        let job = order.job
        var new = NewRun(id: order.runID ?? makeID(), threadID: threadID, assistantID: job.assistantID, metadata: order.metadata, kwargs: order.request,
                         multitaskStrategy: MultitaskStrategy(rawValue: job.multitaskStrategy) ?? .reject,
                         onDisconnect: job.onDisconnect.rawValue)
        new.webhook = job.webhook
        new.keyID = order.quota?.keyID
        new.maxPendingRuns = order.quota == nil ? nil : maxPendingRuns
        new.job = job.encoded
        new.threadMetadata = order.threadMetadata
        new.answersApproval = order.answersApproval
        if let values = job.values, !values.isEmpty { new.threadValues = String(decoding: encodeJSON(values), as: UTF8.self) }
        return new
    }

    /// The store checks the key's limit in the run's own transaction, counting every worker's stateless runs' places.
    /// A refused run's own new thread goes again.
    private func createRun(_ new: NewRun, _ quota: RunQuota?, ownThread thread: RunThread) async throws -> RunRecord {
        var new = new
        new.maxConcurrentRuns = quota?.maxConcurrentRuns
        do {
            let run = try await store.createRun(new)
            if let threadID = run.threadID {
                ring(Self.threadBell(threadID))
                // Not awaited: the run is made whether or not another worker's reader of the thread hears of it now.
                if let notices { Task { await notices.notify(.threadRun(thread: threadID)) } }
            }
            return run
        } catch {
            if case .own(let id, _, _) = thread { _ = try? await store.deleteThread(id) }
            throw error
        }
    }

    /// Starts a run this process took from the queue, from its stored job.
    func startClaimed(_ run: RunRecord) {
        var logger = self.logger
        logger[metadataKey: "run.id"] = .string(run.id)
        logger[metadataKey: "thread.id"] = .string(Tenancy.publicID(run.threadID ?? ""))
        logger[metadataKey: "agent.id"] = .string(run.assistantID)
        do {
            var run = run
            if run.job == nil {
                // Queued (or handed back) by a release without jobs: its job from its request, stored for readers.
                let job = try formats.legacyJob(run)
                run.job = job.encoded
                Task { [store, id = run.id, encoded = job.encoded] in _ = try? await store.setJob(run: id, encoded) }
            }
            let job = try RunJob.decode(run.job ?? "")
            let due = max(run.createdAt, run.notBefore ?? run.createdAt)
            Metrics.queueWait(agent: job.agentID, .milliseconds(max(0, Int64(Date().timeIntervalSince(due) * 1000))))
            _ = launch(run, job: job, agent: try agent(for: job), logger: logger, claimed: true)
        } catch {
            // The agent was removed, or the job no longer reads, since the run was queued.
            let problem = (error as? any RunProblemConvertible)?.problem
                ?? RunProblem(status: 422, code: "invalid_run", message: "\(error)")
            logger.warning("run.failed", metadata: ["error": .string(problem.message)])
            let log = StoredLog(engine: self, runID: run.id)
            Task { [store, workerID] in
                await log.close(problem)
                let note = RunResultNote(usage: nil, turns: nil, context: nil, error: .init(problem)).json
                _ = try? await store.finishRun(run.id, worker: workerID, RunCompletion(status: .error, messages: [], result: note))
            }
        }
    }

    /// Executes a stored run here: registered (leases, cancellation), its outcome published to whoever waits.
    private func launch(_ run: RunRecord, job: RunJob, agent: AgentDefinition, logger: Logger, claimed: Bool) -> LocalRun {
        let local = LocalRun(id: run.id, background: claimed)
        register(local)
        _ = acquireBell(run.id)
        let persistence = StoredRun(engine: self, record: run, job: job, claimed: claimed, local: local)
        let execution = RunExecution(engine: self, runID: run.id, threadID: run.threadID, agent: agent, input: job.messages, values: job.values,
                                     clientTools: job.clientTools ?? [], local: local, logger: logger, persistence: persistence,
                                     origin: job.origin, tenant: job.tenant, traceParent: job.traceParent, resume: job.resume,
                                     breakpoints: job.breakpoints)
        let task = Task.detached { [self] in
            let outcome = await execution.execute()
            unregister(run.id)
            ring(run.id)
            releaseBell(run.id)
            local.finish(outcome)
            // Room for the next queued run now (and the thread's next run may wait for this one), not at the next
            // expiry check; and its webhooks, if it has any, are due (the dispatcher's look is a store write: not one
            // per run without them).
            if run.webhook != nil || !catalog.webhooks.endpoints.isEmpty { deliveryBell.ring() }
            pokeBackground()
        }
        local.start(task)
        return local
    }
}
