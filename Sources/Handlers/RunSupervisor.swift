import AgentRuntime
import Foundation
import Logging
import Store
import Synchronization

/// The runs this worker process holds: it renews their leases, relays cancellations that other workers wrote
/// to the store, closes the runs of workers that died, and prunes expired threads and old events.
/// One per process; `run()` is its loop, started beside the transport.
public final class RunSupervisor: Sendable {
    public let workerID: String
    let store: any AgentStore
    let logger: Logger
    let watchdog: Watchdog
    /// How long a run stays ours without renewal; another worker may close it after that.
    let lease: Duration
    /// How often leases are renewed and cancellations looked for: the bound on noticing a cancel from elsewhere.
    let tick: Duration
    let eventRetention: Duration
    /// Attempts a run gets when workers die under it.
    let maxAttempts: Int
    /// Background runs this process executes at once.
    let backgroundCapacity: Int
    let webhooks: WebhookSettings
    private let local = Mutex<[String: LocalRun]>([:])
    private let starter = Mutex<(@Sendable (RunRecord) -> Void)?>(nil)
    private let claiming = Atomic<Bool>(true)
    /// Stateless runs (not stored) in flight in this process, per API key.
    private let statelessRuns = Mutex<[String: Int]>([:])
    private let bells = Mutex<[String: (bell: Bell, users: Int)]>([:])

    public init(store: any AgentStore, workerID: String, logger: Logger, watchdog: Watchdog,
                lease: Duration = .seconds(10), tick: Duration = .milliseconds(250), eventRetention: Duration = .seconds(86_400),
                maxAttempts: Int = 3, backgroundCapacity: Int = 8, webhooks: WebhookSettings = WebhookSettings()) {
        self.maxAttempts = maxAttempts
        self.backgroundCapacity = backgroundCapacity
        self.webhooks = webhooks
        self.store = store
        self.workerID = workerID
        self.logger = logger
        self.watchdog = watchdog
        self.lease = lease
        self.tick = tick
        self.eventRetention = eventRetention
    }

    var leaseDeadline: Date { Date() + lease.seconds }

    func register(_ run: LocalRun) {
        local.withLock { $0[run.id] = run }
    }

    func unregister(_ id: String) {
        _ = local.withLock { $0.removeValue(forKey: id) }
    }

    func localRun(_ id: String) -> LocalRun? {
        local.withLock { $0[id] }
    }

    /// Stops a run of this process now rather than at the next tick.
    @discardableResult
    func cancelLocal(_ id: String, action: CancelAction) -> Bool {
        guard let run = localRun(id) else { return false }
        run.cancel(action)
        return true
    }

    /// What starts a background run claimed from the queue (set by `makeApp`, which has what a run needs).
    func setBackgroundStarter(_ start: @escaping @Sendable (RunRecord) -> Void) {
        starter.withLock { $0 = start }
    }

    /// Counts a stateless run against its key's `max_concurrent_runs`; per process, as such runs are not stored.
    func acquireStateless(_ principal: Principal?) throws -> (@Sendable () -> Void) {
        guard let principal, let limit = principal.maxConcurrentRuns else { return {} }
        let admitted = statelessRuns.withLock { runs in
            guard runs[principal.keyID, default: 0] < limit else { return false }
            runs[principal.keyID, default: 0] += 1
            return true
        }
        guard admitted else { throw StoreError.concurrentRunsExceeded(limit: limit) }
        return { [self] in statelessRuns.withLock { $0[principal.keyID, default: 1] -= 1 } }
    }

    /// The process is stopping: take no more runs from the queue.
    public func stopClaiming() {
        claiming.store(false, ordering: .relaxed)
    }

    var backgroundRuns: Int { local.withLock { $0.values.count { $0.background } } }

    /// Takes due background runs from the queue while this process has room for them.
    func claimBackground() async {
        guard claiming.load(ordering: .relaxed), let start = starter.withLock({ $0 }) else { return }
        while backgroundRuns < backgroundCapacity, !Task.isCancelled {
            do {
                guard let run = try await store.claimNextRun(worker: workerID, leaseUntil: leaseDeadline, now: Date()) else { return }
                logger.info("run.claimed", metadata: ["run.id": .string(run.id), "attempt": "\(run.attempts)"])
                start(run)
            } catch {
                logger.warning("runs.claim_failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// A background run was just queued here: look now rather than at the next tick.
    func pokeBackground() {
        Task { await claimBackground() }
    }

    /// Cancels every run of this process: the server is going away.
    public func cancelAll() {
        for run in local.withLock({ Array($0.values) }) { run.cancel(.interrupt, reason: "server_shutdown") }
    }

    public var activeRuns: Int { local.withLock { $0.count } }

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

    /// How long a reader waits before looking for events another process appended: short when the store can
    /// not tell us (SQLite), a fallback when it can (PostgreSQL's notifications wake readers at once).
    var remotePoll: Duration { store is any EventNotifying ? .milliseconds(500) : .milliseconds(50) }

    /// The loop: every tick renew and relay; every 2 s close runs whose worker died; every 10 min prune.
    public func run() async {
        let following = (store as? any EventNotifying).map { notifying in
            Task { [self] in
                while !Task.isCancelled {
                    do {
                        try await notifying.followAppends { [self] runID in ring(runID) }
                    } catch {
                        if !Task.isCancelled { logger.warning("store.notifications_lost", metadata: ["error": "\(error)"]) }
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        defer { following?.cancel() }
        var ticks = 0
        while !Task.isCancelled {
            await renew()
            if ticks % 8 == 0 { await expire() }
            await claimBackground()
            if ticks % 2400 == 0 { await prune() }
            ticks += 1
            try? await Task.sleep(for: tick)
        }
    }

    func renew() async {
        let ids = local.withLock { Array($0.keys) }
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

    func expire() async {
        let closing: [(event: String, data: [UInt8])] = [
            ("error", encodeJSON(RunStreamError(error: "worker_lost", message: "The worker running this run stopped; it was not retried."))),
            ("end", Array("null".utf8)),
        ]
        let webhooks = self.webhooks
        do {
            let result = String(decoding: encodeJSON(["error": RunStreamError(error: "worker_lost", message: "The worker running this run stopped.")]), as: UTF8.self)
            let expired = try await store.expireLeases(now: Date(), maxAttempts: maxAttempts, result: result, closing: closing) { run in
                WebhookEvent.deliveries(for: run, settings: webhooks) { UUID().uuidString.lowercased() }
            }
            for entry in expired {
                let metadata: Logger.Metadata = ["run.id": .string(entry.run.id), "attempts": "\(entry.run.attempts)"]
                if entry.requeued { logger.warning("run.requeued", metadata: metadata) } else { logger.warning("run.lost", metadata: metadata) }
                ring(entry.run.id)
            }
            if expired.contains(where: \.requeued) { await claimBackground() }
        } catch {
            logger.warning("runs.expiry_failed", metadata: ["error": "\(error)"])
        }
    }

    func prune() async {
        do {
            let now = Date()
            let (threads, events) = try await store.prune(now: now, eventsBefore: now - eventRetention.seconds)
            let keys = try await store.pruneIdempotency(before: now - 86_400)
            if threads + events + keys > 0 {
                logger.info("store.pruned", metadata: ["threads": "\(threads)", "events": "\(events)", "idempotency_keys": "\(keys)"])
            }
        } catch {
            logger.warning("store.prune_failed", metadata: ["error": "\(error)"])
        }
    }
}

struct RunStreamError: Codable, Sendable {
    var error: String
    var message: String
}

extension Duration {
    var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
