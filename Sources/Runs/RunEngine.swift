import AgentRuntime
import AsyncHTTPClient
import Foundation
import Logging
import Store
import Synchronization

public let agentfcgiVersion = "0.1.0"

/// What only a dialect knows and the engine needs: the body of a webhook, and the job of a run queued before jobs
/// were stored (from the request stored with it).
public struct RunFormats: Sendable {
    /// The event type of a run's end, in the words of the dialect that made the run (`run.completed`,
    /// `response.completed`, ...).
    public var webhookType: @Sendable (_ run: RunRecord) -> String
    public var webhookPayload: @Sendable (_ run: RunRecord, _ eventID: String, _ type: String) -> [UInt8]
    public var legacyJob: @Sendable (_ run: RunRecord) throws -> RunJob

    public init(webhookType: @escaping @Sendable (RunRecord) -> String,
                webhookPayload: @escaping @Sendable (RunRecord, String, String) -> [UInt8],
                legacyJob: @escaping @Sendable (RunRecord) throws -> RunJob) {
        self.webhookType = webhookType
        self.webhookPayload = webhookPayload
        self.legacyJob = legacyJob
    }
}

/// The run engine of one worker process: creates runs (admission: budget, concurrency), executes them (stored or
/// stateless, one pipeline), writes their typed event log, renews leases, relays cancellations that other workers
/// wrote to the store, closes the runs of workers that died, takes background runs from the queue, and prunes.
/// It knows no HTTP and no wire format; `run()` is its loop, started beside the transport.
public final class RunEngine: Sendable {
    public let workerID: String
    let store: any AgentStore
    let logger: Logger
    let catalog: AgentCatalog
    let formats: RunFormats
    let clock: any Clock<Duration>
    let makeID: @Sendable () -> String
    let httpClient: HTTPClient
    let watchdog: Watchdog
    /// How long a run stays ours without renewal; another worker may close it after that.
    let lease: Duration
    /// How often leases are renewed and cancellations looked for: the bound on noticing a cancel from elsewhere.
    let tick: Duration
    public let eventRetention: Duration
    /// Attempts a run gets when workers die under it.
    let maxAttempts: Int
    /// Background runs this process executes at once.
    let backgroundCapacity: Int
    /// Runs one API key may have waiting in the queue (nil: no limit).
    let maxPendingRuns: Int?
    /// The time crons fire by.
    let scheduleClock: ScheduleClock
    private let local = Mutex<[String: LocalRun]>([:])
    /// Rung each time the last run of this process ends: a stopping worker waits for it.
    private let idle = Bell()
    private let claiming = Atomic<Bool>(true)
    /// The store places of this process's stateless runs under their keys' `max_concurrent_runs`, renewed until given back.
    private let places = Mutex<Set<String>>([])
    private let bells = Mutex<[String: (bell: Bell, users: Int)]>([:])
    /// The deployment's secrets this process has read (they never change).
    let secrets = Mutex<[String: [UInt8]]>([:])
    /// Rung when the loop has work before its next timer: a run or a place of this process to renew.
    private let loopBell = Bell()
    /// Rung when the crons may have changed here (the scheduler sleeps until the next firing otherwise).
    let cronBell = Bell()
    /// Rung when a run of this process ended or runs were requeued: deliveries may be due (the webhook dispatcher
    /// otherwise backs off while it finds none).
    public let deliveryBell = Bell()
    /// Finished stateless runs' tokens, written by group commit.
    let usageBatches: UsageBatches

    public init(store: any AgentStore, workerID: String, logger: Logger, catalog: AgentCatalog, formats: RunFormats,
                clock: any Clock<Duration> = ContinuousClock(),
                makeID: @escaping @Sendable () -> String = { RandomID.uuid() },
                httpClient: HTTPClient = .shared, watchdog: Watchdog = Watchdog(),
                lease: Duration = .seconds(10), tick: Duration = .milliseconds(250), eventRetention: Duration = .seconds(86_400),
                maxAttempts: Int = 3, backgroundCapacity: Int = 8, maxPendingRuns: Int? = 1000, scheduleClock: ScheduleClock = .wall,
                remotePoll: Duration? = nil) {
        self.store = store
        remotePollSetting = remotePoll
        self.workerID = workerID
        self.logger = logger
        self.catalog = catalog
        self.formats = formats
        self.clock = clock
        self.makeID = makeID
        self.httpClient = httpClient
        self.watchdog = watchdog
        self.lease = lease
        self.tick = tick
        self.eventRetention = eventRetention
        self.maxAttempts = maxAttempts
        self.backgroundCapacity = backgroundCapacity
        self.maxPendingRuns = maxPendingRuns
        self.scheduleClock = scheduleClock
        usageBatches = UsageBatches { [store] key, day, tokens, runs in
            try await store.addUsage(key: key, day: day, tokens: tokens, runs: runs)
        }
    }

    /// What the HTTP layer reads (and authenticates with) directly.
    public var reader: StoreReader { StoreReader(store: store) }

    var leaseDeadline: Date { Date() + lease.seconds }

    var runner: AgentRunner {
        AgentRunner(clock: clock, makeID: makeID, httpClient: httpClient, watchdog: watchdog)
    }

    // MARK: - Runs of this process

    func register(_ run: LocalRun) {
        local.withLock { $0[run.id] = run }
        // The loop sleeps while nothing is ours: from now on it renews every tick.
        loopBell.ring()
    }

    func unregister(_ id: String) {
        let none = local.withLock { local in
            local.removeValue(forKey: id)
            return local.isEmpty
        }
        if none { idle.ring() }
    }

    func localRun(_ id: String) -> LocalRun? {
        local.withLock { $0[id] }
    }

    public func isLocal(_ id: String) -> Bool { localRun(id) != nil }

    /// Stops a run of this process now rather than at the next tick.
    @discardableResult
    func cancelLocal(_ id: String, action: CancelAction) -> Bool {
        guard let run = localRun(id) else { return false }
        run.cancel(action)
        return true
    }

    /// Cancels every run of this process: the server is going away.
    public func cancelAll() {
        for run in local.withLock({ Array($0.values) }) { run.cancel(.interrupt, reason: "server_shutdown") }
    }

    public var activeRuns: Int { local.withLock { $0.count } }

    /// Waits until this process has no runs, at most until `deadline` (or until the task is cancelled); true if it
    /// has none. Woken as the last run ends, not by polling.
    public func waitForNoRuns(until deadline: ContinuousClock.Instant) async -> Bool {
        while true {
            let generation = idle.generation
            if activeRuns == 0 { return true }
            let left = deadline - ContinuousClock.now
            if left <= .zero || Task.isCancelled { return false }
            await idle.wait(since: generation, timeout: left, watchdog: watchdog)
        }
    }

    var backgroundRuns: Int { local.withLock { $0.values.count { $0.background } } }

    /// The process is stopping: take no more runs from the queue.
    public func stopClaiming() {
        claiming.store(false, ordering: .relaxed)
    }

    // MARK: - Admission

    /// A stateless run's place under its key's `max_concurrent_runs`, counted in the store with the key's stored runs
    /// and every worker's stateless runs, and its daily token budget.
    public func admitStateless(_ quota: RunQuota?, for job: RunJob) async throws -> Admission {
        guard let quota else { return Admission() }
        let budget = try await Budget.reserve(quota, estimate: { Budget.estimate(try agent(for: job), input: job.messages) }, store: store)
            .map { BudgetMeter($0, engine: self) }
        do {
            return try await placing(quota, budget: budget)
        } catch {
            await budget?.settle(used: 0)
            throw error
        }
    }

    private func placing(_ quota: RunQuota, budget: BudgetMeter?) async throws -> Admission {
        guard let limit = quota.maxConcurrentRuns else { return settling(quota, budget: budget) }
        let place = RandomID.uuid()
        // Renewed from before the store has it, so no renewal can miss it.
        places.withLock { _ = $0.insert(place) }
        loopBell.ring()
        let taken: Bool
        do {
            taken = try await store.takeRunPlace(place, key: quota.keyID, limit: limit, until: leaseDeadline)
        } catch {
            places.withLock { _ = $0.remove(place) }
            throw error
        }
        guard taken else {
            places.withLock { _ = $0.remove(place) }
            throw StoreError.concurrentRunsExceeded(limit: limit)
        }
        return settling(quota, budget: budget) { [self] in await giveBack(place) }
    }

    /// A place no longer renewed lapses by itself within a lease, so one failed delete costs a lease's wait, no more.
    private func giveBack(_ place: String) async {
        places.withLock { _ = $0.remove(place) }
        do {
            try await store.releaseRunPlace(place)
        } catch {
            logger.warning("runs.place_release_failed", metadata: ["error": "\(error)", "lapses_in_s": "\(lease.seconds)"])
        }
    }

    func renewPlaces() async {
        let ids = places.withLock { Array($0) }
        guard !ids.isEmpty else { return }
        do {
            try await store.renewRunPlaces(ids, until: leaseDeadline)
        } catch {
            logger.warning("runs.place_renewal_failed", metadata: ["error": "\(error)"])
        }
    }

    private func settling(_ quota: RunQuota, budget: BudgetMeter?, release: (@Sendable () async -> Void)? = nil) -> Admission {
        Admission(release: release, budget: budget, caller: RunCaller(tenant: quota.tenant, keyID: quota.keyID)) { [self] usage in
            if let budget {
                await budget.settle(used: usage.totalTokens)
            } else if usage.totalTokens > 0 {
                await recordUsage(key: quota.keyID, tokens: usage.totalTokens)
            }
        }
    }

    /// Adds a finished run's tokens to its key's count for today, in the write that carries the counts of the runs
    /// ending with it (`UsageBatches`). A busy or unreachable database gets more tries in the background (a minute in
    /// all), so the answer is not held; only then is the count logged as lost.
    func recordUsage(key: String, tokens: Int, day: String = Budget.today()) async {
        guard tokens != 0 else { return }
        do {
            try await usageBatches.add(key: key, day: day, tokens: tokens)
            return
        } catch {
            logger.warning("usage.retry", metadata: ["key.id": .string(key), "tokens": "\(tokens)", "error": "\(error)"])
        }
        let (store, logger) = (self.store, self.logger)
        Task {
            for delay in [1, 2, 4, 8, 15, 30] {
                try? await Task.sleep(for: .seconds(delay))
                do {
                    try await store.addUsage(key: key, day: day, tokens: tokens)
                    return
                } catch {}
            }
            logger.error("usage.lost", metadata: ["key.id": .string(key), "tokens": "\(tokens)", "day": .string(day)])
        }
    }

    // MARK: - Reader wake-ups

    func acquireBell(_ runID: String) -> Bell {
        bells.withLock { bells in
            if let entry = bells[runID] {
                bells[runID] = (entry.bell, entry.users + 1)
                return entry.bell
            }
            let bell = Bell()
            bells[runID] = (bell, 1)
            return bell
        }
    }

    func releaseBell(_ runID: String) {
        bells.withLock { bells in
            guard let entry = bells[runID] else { return }
            bells[runID] = entry.users > 1 ? (entry.bell, entry.users - 1) : nil
        }
    }

    func ring(_ runID: String) {
        bells.withLock { $0[runID]?.bell }?.ring()
    }

    /// The store's notices between workers, when it sends them.
    var notices: (any StoreNotifying)? { (store as? any StoreNotifying).flatMap { $0.notifies ? $0 : nil } }

    /// How long a reader waits before looking for events another process appended: a fallback when the store
    /// tells of appends (a notice wakes readers at once, and one may be lost), short when it cannot.
    var remotePoll: Duration { remotePollSetting ?? (notices != nil ? .seconds(1) : .milliseconds(50)) }
    private let remotePollSetting: Duration?

    // MARK: - The loop

    /// While this process has runs (or stateless runs' places), every tick: renew leases and relay cancellations.
    /// Every `tick * 8` (2 s; idle, half a lease): close runs whose worker died; every `tick * 8` renew places; every
    /// 10 min prune. Background runs are taken on each wake. Idle, the loop sleeps until the next of those timers, until
    /// a run of this process starts, or until another worker tells that runs wait it had no room for; runs queued or
    /// ended here are taken at once (`pokeBackground`).
    public func run() async {
        let following = notices.map { notices in
            Task { [self] in
                var pause = Duration.seconds(1)
                while !Task.isCancelled {
                    let started = ContinuousClock.now
                    do {
                        try await notices.follow { [self] notice in
                            switch notice {
                            case .appended(let run): ring(run)
                            case .runsWaiting: loopBell.ring()
                            case .cronsChanged: cronBell.ring()
                            case .threadRun(let thread): ring(Self.threadBell(thread))
                            case .answered(let approval): ring(Self.answerBell(approval))
                            }
                        }
                    } catch {
                        if !Task.isCancelled { logger.warning("store.notifications_lost", metadata: ["error": "\(error)"]) }
                    }
                    // A subscription that keeps failing at once (no right to bind, say) is tried less and less often,
                    // up to every 30 s; waiters meanwhile find changes by their fallback looks.
                    pause = ContinuousClock.now - started > .seconds(60) ? .seconds(1) : min(pause * 2, .seconds(30))
                    try? await Task.sleep(for: pause)
                }
            }
        }
        // Beside the loop, not before it: a long backlog must not hold up lease renewal.
        let upgrading = Task { await upgradeQueuedJobs() }
        let scheduling = Task { await runCrons() }
        defer {
            following?.cancel()
            upgrading.cancel()
            scheduling.cancel()
        }
        let every = tick * 8
        let start = ContinuousClock.now
        var (nextExpiry, nextPlaces, nextPrune) = (start, start + tick * 4, start)
        while !Task.isCancelled {
            let generation = loopBell.generation
            await renew()
            var now = ContinuousClock.now
            if now >= nextExpiry {
                await expire()
                // Idle, half a lease: a dead worker's run is queued again at most half a lease late (as it was with
                // `tick * 8` and the default lease), and an idle worker does not write to the store every 2 s.
                nextExpiry = now + (activeRuns > 0 ? every : max(every, lease / 2))
            }
            if now >= nextPlaces {
                await renewPlaces()
                nextPlaces = now + every
            }
            await claimBackground()
            if now >= nextPrune {
                await prune()
                nextPrune = now + tick * 2400
            }
            now = ContinuousClock.now
            if activeRuns > 0 || places.withLock({ !$0.isEmpty }) {
                try? await Task.sleep(for: tick)
            } else {
                let next = min(nextExpiry, nextPrune)
                if next > now { await loopBell.wait(since: generation, timeout: next - now, watchdog: watchdog) }
            }
        }
    }

    /// Gives runs queued before jobs were stored a job, read from the request stored with each. Any worker may do
    /// it (the store sets a job only where there is none); a run whose request no longer reads keeps none and fails
    /// with the reason when it is claimed.
    public func upgradeQueuedJobs() async {
        do {
            var upgraded = 0
            for run in try await store.runsWithoutJob(limit: 10_000) {
                guard let job = try? formats.legacyJob(run) else { continue }
                if try await store.setJob(run: run.id, job.encoded) { upgraded += 1 }
            }
            if upgraded > 0 { logger.info("runs.jobs_upgraded", metadata: ["runs": "\(upgraded)"]) }
        } catch {
            logger.warning("runs.job_upgrade_failed", metadata: ["error": "\(error)"])
        }
    }

    func renew() async {
        let ids = local.withLock { $0.values.filter(\.stored).map(\.id) }
        guard !ids.isEmpty else { return }
        do {
            let control = try await store.renewLeases(worker: workerID, runs: ids, until: leaseDeadline)
            for (id, decision) in control {
                switch decision {
                case .proceed: break
                case .cancel(let action): cancelLocal(id, action: action)
                case .gone: localRun(id)?.cancel(.interrupt, reason: "gone")
                }
            }
        } catch {
            logger.warning("runs.lease_renewal_failed", metadata: ["error": "\(error)"])
        }
    }

    /// A lost run's end: `tool_interrupted` when it had started a call that must not run twice (an approved call, a
    /// non-idempotent tool), `worker_lost` otherwise (out of attempts, or cancelled).
    static func lostRunEnding(_ run: RunRecord) -> LostRunEnding {
        let (code, message) = run.sideEffects == nil
            ? ("worker_lost", "The worker running this run stopped; it was not retried.")
            : ("tool_interrupted", "The worker running this run stopped during a tool call that must not run twice; the call was not repeated.")
        let closing = [RunLogEvent.error(code: code, message: message), .end].map { ($0.kind, $0.record(seq: 0).data) }
        let result = RunResultNote(usage: nil, turns: nil, context: nil, error: RunResultNote.Failure(error: code, message: message)).json
        return LostRunEnding(result: result, closing: closing)
    }

    func expire() async {
        let (settings, formats) = (catalog.webhooks, self.formats)
        do {
            let expired = try await store.expireLeases(now: Date(), maxAttempts: maxAttempts, ending: Self.lostRunEnding) { run in
                WebhookEvent.deliveries(for: run, settings: settings, formats: formats) { RandomID.uuid() }
            }
            for entry in expired {
                let metadata: Logger.Metadata = ["run.id": .string(entry.run.id), "attempts": "\(entry.run.attempts)"]
                if entry.requeued { logger.warning("run.requeued", metadata: metadata) } else { logger.warning("run.lost", metadata: metadata) }
                ring(entry.run.id)
            }
            if !expired.isEmpty { deliveryBell.ring() }
            if expired.contains(where: \.requeued) { pokeBackground(queued: true) }
        } catch {
            logger.warning("runs.expiry_failed", metadata: ["error": "\(error)"])
        }
    }

    func prune() async {
        do {
            let now = Date()
            let (threads, events) = try await store.prune(now: now, eventsBefore: now - eventRetention.seconds)
            let keys = try await store.pruneIdempotency(before: now - 86_400)
            // A handle outlives its call only when its worker died before unbinding it.
            let handles = try await store.pruneCallHandles(before: now - 86_400)
            // Expired items are invisible already; this only frees their room.
            let items = try await store.pruneItems(now: now)
            // Kept as long as runs' events: a firing is looked up only while its run may still be made or cleaned up.
            let firings = try await store.pruneCronFirings(before: now - eventRetention.seconds)
            if threads + events + keys + handles + items + firings > 0 {
                logger.info("store.pruned", metadata: ["threads": "\(threads)", "events": "\(events)", "idempotency_keys": "\(keys)",
                                                       "call_handles": "\(handles)", "items": "\(items)", "cron_firings": "\(firings)"])
            }
        } catch {
            logger.warning("store.prune_failed", metadata: ["error": "\(error)"])
        }
    }

    /// Takes due background runs from the queue while this process has room for them.
    func claimBackground() async {
        guard claiming.load(ordering: .relaxed) else { return }
        while backgroundRuns < backgroundCapacity, !Task.isCancelled {
            do {
                guard let run = try await store.claimNextRun(worker: workerID, leaseUntil: leaseDeadline, now: Date()) else { return }
                logger.info("run.claimed", metadata: ["run.id": .string(run.id), "attempt": "\(run.attempts)"])
                startClaimed(run)
            } catch {
                logger.warning("runs.claim_failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// A background run was just queued or ended here: look now rather than at the next tick. `queued`: when this
    /// process has no room for it, the other workers are told (only here, never in answer to a notice, so that full
    /// workers do not tell each other back and forth).
    func pokeBackground(queued: Bool = false) {
        Task {
            await claimBackground()
            if queued, !claiming.load(ordering: .relaxed) || backgroundRuns >= backgroundCapacity { await notices?.notify(.runsWaiting) }
        }
    }

    /// A run queued here with a delay: look when it is due (the idle loop looks only every half lease).
    func pokeBackground(after seconds: Double) {
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000) + 1))
            pokeBackground(queued: true)
        }
    }
}

extension Duration {
    public var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
