import AgentRuntime
import Crypto
import Foundation
import Logging
import Store
import Synchronization

/// The time crons are scheduled by: the wall clock, or, for tests, one that shows `start` until the real instant
/// `anchor` and from then runs `rate` times as fast. Every worker given the same three agrees on the time; a test in
/// one process may hold the clock at `start` (anchor in the future) while it sets up, then `release` it.
public final class ScheduleClock: Sendable {
    public let start: Date
    public let rate: Double
    private let anchor: Atomic<UInt64>

    public static let wall = ScheduleClock(start: Date(timeIntervalSince1970: 0), anchor: Date(timeIntervalSince1970: 0), rate: 1)

    public init(start: Date, anchor: Date, rate: Double) {
        self.start = start
        self.rate = rate
        self.anchor = Atomic(anchor.timeIntervalSince1970.bitPattern)
    }

    /// `START@ANCHOR*RATE`: ISO 8601 instant, real unix seconds, speed (the hidden `--schedule-clock` option).
    public convenience init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == "@" || $0 == "*" })
        guard parts.count == 3, let start = try? Date(String(parts[0]), strategy: .iso8601), let anchor = Double(parts[1]),
              let rate = Double(parts[2]), rate > 0 else { return nil }
        self.init(start: start, anchor: Date(timeIntervalSince1970: anchor), rate: rate)
    }

    /// Lets a held clock run from now.
    public func release() { anchor.store(Date().timeIntervalSince1970.bitPattern, ordering: .releasing) }

    public func now() -> Date {
        let since = Date().timeIntervalSince1970 - Double(bitPattern: anchor.load(ordering: .acquiring))
        return start + max(0, since) * rate
    }
}

/// Firing crons: each scheduled time claimed once across workers, its run made as a background run of the cron's key.
extension RunEngine {
    /// The firing's run: the same id for the same cron and time, so that a firing queued again after its worker died
    /// finds the run the first attempt made rather than making a second.
    static func firingRunID(cron: String, at time: Date) -> String {
        let digest = Array(SHA256.hash(data: Data("cron:\(cron):\(Int64((time.timeIntervalSince1970 * 1000).rounded()))".utf8)).prefix(16))
        var bytes = digest
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8: derived, not random
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.lowercaseHex
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    /// The next firing after `after` by the cron's schedule, nil past its end.
    public static func nextFiring(schedule: String, timezone: String?, after: Date, end: Date?) -> Date? {
        guard let schedule = try? CronSchedule(schedule, timeZone: timezone), let next = schedule.next(after: after) else { return nil }
        if let end, next > end { return nil }
        return next
    }

    /// Fires what is due, then sleeps until the next firing, or until a cron changes here. The next firing is the
    /// store's; another worker's change wakes it with a notice, else it is seen from the next look on: within a second
    /// while crons fire or firings wait to be cleaned up, then, as nothing happens, after up to `cronIdlePoll`. Claimed
    /// firings whose worker died are queued again; the threads of ended firings that asked for it are deleted.
    func runCrons() async {
        var lastSweep: ContinuousClock.Instant?
        var quiet = Duration.seconds(1)
        while !Task.isCancelled {
            let generation = cronBell.generation
            var busy = await fireDue(now: scheduleClock.now())
            if lastSweep.map({ ContinuousClock.now - $0 >= .seconds(4) }) ?? true {
                busy = await sweepFirings() || busy
                lastSweep = ContinuousClock.now
            }
            quiet = busy ? .seconds(1) : min(quiet * 2, cronIdlePoll)
            var wait = quiet
            if let due = try? await store.nextCronDue() {
                let seconds = max(0.02, due.timeIntervalSince(scheduleClock.now()) / scheduleClock.rate)
                wait = min(wait, .milliseconds(Int64(seconds * 1000)))
            }
            await cronBell.wait(since: generation, timeout: wait, watchdog: watchdog)
        }
    }

    /// The longest an idle scheduler sleeps: how late a cron another worker made, due within that time, may fire
    /// should its notice be lost (5 s when the store sends none).
    var cronIdlePoll: Duration { notices != nil ? .seconds(60) : .seconds(5) }

    /// True if a firing was claimed here.
    @discardableResult
    func fireDue(now: Date) async -> Bool {
        var fired = false
        do {
            for cron in try await store.dueCrons(now: now, limit: 50) {
                guard let scheduled = cron.nextRunDate else { continue }
                // After an outage, one catch-up firing for the time missed, then the schedule from now.
                let next = Self.nextFiring(schedule: cron.schedule, timezone: cron.timezone, after: max(now, scheduled), end: cron.endTime)
                let threadID = cron.threadID == nil ? Tenancy.internalID(makeID(), tenant: cron.tenant) : nil
                let firing = CronFiring(cronID: cron.id, scheduledAt: scheduled, tenant: cron.tenant,
                                        runID: Self.firingRunID(cron: cron.id, at: scheduled), threadID: threadID, status: .claimed,
                                        worker: workerID, updatedAt: Date())
                guard try await store.claimCronFiring(firing, next: next) else { continue }
                fired = true
                await queue(firing, of: cron)
            }
        } catch {
            logger.warning("crons.firing_failed", metadata: ["error": "\(error)"])
        }
        return fired
    }

    /// Makes the firing's run, under the limits of the key that made or last changed the cron; records how it went.
    func queue(_ firing: CronFiring, of cron: CronRecord) async {
        var logger = self.logger
        logger[metadataKey: "cron.id"] = .string(cron.id)
        logger[metadataKey: "run.id"] = .string(firing.runID)
        let (status, detail) = await makeRun(firing, of: cron, logger: logger)
        if status == .failed { logger.warning("cron.firing_refused", metadata: ["reason": .string(detail ?? "")]) }
        do {
            try await store.setCronFiring(cronID: firing.cronID, scheduledAt: firing.scheduledAt, status: status, detail: detail, now: Date())
        } catch {
            // Left as claimed: the sweep finds the run made and marks it.
            logger.warning("cron.firing_unrecorded", metadata: ["error": "\(error)"])
        }
    }

    private func makeRun(_ firing: CronFiring, of cron: CronRecord, logger: Logger) async -> (CronFiring.Status, String?) {
        do {
            if try await store.run(firing.runID) != nil { return (afterRun(cron), nil) }
            // Made on a server without keys, it runs without a key's limits.
            var quota: RunQuota?
            if let keyID = cron.keyID {
                guard let key = try await store.key(id: keyID), key.revokedAt == nil else {
                    try await store.disableCron(id: cron.id, reason: "key_revoked: the API key that made this cron was revoked", now: Date())
                    return (.failed, "key_revoked")
                }
                quota = RunQuota(keyID: key.id, maxConcurrentRuns: key.maxConcurrentRuns, dailyTokenBudget: key.dailyTokenBudget)
            }
            var job = try RunJob.decode(cron.job)
            if let webhook = job.webhook { _ = try WebhookPolicy(settings: catalog.webhooks).check(webhook) }
            job.onDisconnect = .continue
            let thread: RunThread
            if let existing = cron.threadID {
                thread = .existing(existing)
            } else if let own = firing.threadID {
                // Queued again after a worker died: the thread the first attempt made may be there already.
                let made = try await store.thread(own) != nil
                thread = made ? .existing(own)
                    : cron.onRunCompleted == "keep" ? .createIfMissing(own, tenant: cron.tenant)
                    : .own(own, tenant: cron.tenant, metadata: cronThreadMetadata(cron))
            } else {
                throw RunProblem(status: 500, code: "firing_without_thread", message: "The firing has no thread.")
            }
            var order = RunOrder(job: job, thread: thread, metadata: firingMetadata(cron, firing), request: cron.payload,
                                 quota: quota, logger: logger)
            order.threadMetadata = cron.threadMetadata
            order.runID = firing.runID
            _ = try await enqueue(order)
            logger.info("cron.fired", metadata: ["cron.scheduled_at": .string(firing.scheduledAt.formatted(.iso8601))])
            return (afterRun(cron), nil)
        } catch {
            // A racing worker made the run first (its id is the firing's): fired once all the same.
            if (try? await store.run(firing.runID)) != nil { return (afterRun(cron), nil) }
            let problem = (error as? any RunProblemConvertible)?.problem
            return (.failed, problem.map { "\($0.code): \($0.message)" } ?? "\(error)")
        }
    }

    private func afterRun(_ cron: CronRecord) -> CronFiring.Status {
        cron.threadID == nil && cron.onRunCompleted != "keep" ? .cleanup : .queued
    }

    private func cronThreadMetadata(_ cron: CronRecord) -> JSONText {
        String(decoding: encodeJSON(["cron_id": JSONValue.string(cron.id)]), as: UTF8.self)
    }

    /// The run's metadata as the cron gives it, with the cron and the time it fired for.
    private func firingMetadata(_ cron: CronRecord, _ firing: CronFiring) -> JSONText {
        var metadata = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(cron.runMetadata.utf8))) ?? [:]
        metadata["cron_id"] = .string(cron.id)
        metadata["cron_scheduled_at"] = .string(firing.scheduledAt.formatted(.iso8601))
        return String(decoding: encodeJSON(metadata), as: UTF8.self)
    }

    /// True if firings were resumed or wait to be cleaned up.
    @discardableResult
    func sweepFirings() async -> Bool {
        var pending = false
        do {
            // A worker that claimed a firing and died before queuing it: queue it now, with the same run id.
            for firing in try await store.cronFirings(status: .claimed, before: Date() - 10, limit: 20) {
                pending = true
                guard let cron = try await store.cron(tenant: firing.tenant, id: firing.cronID) else {
                    try await store.setCronFiring(cronID: firing.cronID, scheduledAt: firing.scheduledAt, status: .failed,
                                                  detail: "cron_deleted", now: Date())
                    continue
                }
                logger.warning("cron.firing_resumed", metadata: ["cron.id": .string(cron.id), "run.id": .string(firing.runID)])
                await queue(firing, of: cron)
            }
            // Thread-less firings with on_run_completed delete: the thread goes once the run and its webhooks are done.
            for firing in try await store.cronFirings(status: .cleanup, before: Date(), limit: 50) {
                pending = true
                if let run = try await store.run(firing.runID) {
                    var settled = run.status != .pending && run.status != .running
                    if settled { settled = try await store.deliveries(run: run.id).allSatisfy { $0.status != .pending } }
                    guard settled else {
                        // To the back of the line: firings still waiting must not keep the others from their turn.
                        try await store.setCronFiring(cronID: firing.cronID, scheduledAt: firing.scheduledAt, status: .cleanup, detail: nil, now: Date())
                        continue
                    }
                }
                if let thread = firing.threadID { _ = try await store.deleteThread(thread) }
                try await store.setCronFiring(cronID: firing.cronID, scheduledAt: firing.scheduledAt, status: .done, detail: nil, now: Date())
            }
        } catch {
            logger.warning("crons.sweep_failed", metadata: ["error": "\(error)"])
        }
        return pending
    }
}

/// Crons are written through the engine, as every write is; the HTTP layer checks what they hold.
extension RunEngine {
    /// The time crons are scheduled by (the wall clock, or the test clock).
    public var scheduleNow: Date { scheduleClock.now() }

    public func createCron(_ cron: CronRecord) async throws -> CronRecord {
        let made = try await store.createCron(cron)
        await cronsChanged()
        return made
    }

    public func updateCron(tenant: String, id: String, _ change: CronChange) async throws -> CronRecord? {
        let changed = try await store.updateCron(tenant: tenant, id: id, change, now: Date())
        await cronsChanged()
        return changed
    }

    /// This process's scheduler and every other worker's look for the next firing again (should this one die
    /// before it fires, the others fire it on time).
    private func cronsChanged() async {
        cronBell.ring()
        await notices?.notify(.cronsChanged)
    }

    public func deleteCron(tenant: String, id: String) async throws -> Bool {
        try await store.deleteCron(tenant: tenant, id: id)
    }
}

extension StoreReader {
    public func cron(tenant: String, id: String) async throws -> CronRecord? { try await store.cron(tenant: tenant, id: id) }
    public func searchCrons(_ query: CronQuery) async throws -> [CronRecord] { try await store.searchCrons(query) }
    public func countCrons(_ query: CronQuery) async throws -> Int { try await store.countCrons(query) }
    public func cronFirings(cron id: String, limit: Int) async throws -> [CronFiring] { try await store.cronFirings(cron: id, limit: limit) }
}
