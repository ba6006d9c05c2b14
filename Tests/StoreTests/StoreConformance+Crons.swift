import Foundation
import Store
import Testing

extension StoreConformance {
    func cron(_ id: String, tenant: String = "t1", thread: String? = nil, assistant: String = "echo", next: Date?,
              metadata: JSONText = "{}", enabled: Bool = true) -> CronRecord {
        CronRecord(id: id, tenant: tenant, keyID: "k1", threadID: thread, assistantID: assistant, schedule: "* * * * *", timezone: nil,
                   endTime: nil, enabled: enabled, onRunCompleted: "delete", payload: #"{"assistant_id":"echo"}"#, metadata: metadata,
                   job: #"{"version":1}"#, runMetadata: "{}", threadMetadata: nil, nextRunDate: next, createdAt: clock.now, updatedAt: clock.now)
    }

    func cronsLifecycle() async throws {
        let store = try makeStore(), other = try makeStore()
        let due = clock.now + 60
        let made = try await store.createCron(cron("c1", next: due, metadata: #"{"team":"ops","n":1}"#))
        #expect(made.id == "c1" && made.nextRunDate == due && made.enabled && made.disabledReason == nil)
        #expect(try await other.cron(tenant: "t1", id: "c1") == made)
        // Another tenant neither sees, changes nor deletes it.
        #expect(try await other.cron(tenant: "t2", id: "c1") == nil)
        #expect(try await other.updateCron(tenant: "t2", id: "c1", CronChange(), now: clock.now) == nil)
        #expect(try await other.deleteCron(tenant: "t2", id: "c1") == false)

        var change = CronChange()
        change.schedule = "0 9 * * *"
        change.timezone = .some("Europe/Berlin")
        change.endTime = .some(clock.now + 86_400)
        change.metadata = #"{"team":"dev"}"#
        clock.advance(5)
        let updated = try #require(try await other.updateCron(tenant: "t1", id: "c1", change, now: clock.now))
        #expect(updated.schedule == "0 9 * * *" && updated.timezone == "Europe/Berlin" && updated.endTime == made.createdAt + 86_400)
        #expect(updated.updatedAt == clock.now && updated.createdAt == made.createdAt && updated.nextRunDate == due)
        #expect(try json(updated.metadata) == json(#"{"team":"dev"}"#))
        #expect(try await store.cron(tenant: "t1", id: "c1") == updated)
        // A double optional clears: no end, no zone.
        var clear = CronChange()
        clear.endTime = .some(nil)
        clear.timezone = .some(nil)
        let cleared = try #require(try await store.updateCron(tenant: "t1", id: "c1", clear, now: clock.now))
        #expect(cleared.endTime == nil && cleared.timezone == nil && cleared.schedule == "0 9 * * *")

        // Disabled by the server: off, with the reason; turned back on by a client: the reason goes.
        try await other.disableCron(id: "c1", reason: "key_revoked", now: clock.now)
        let off = try #require(try await store.cron(tenant: "t1", id: "c1"))
        #expect(!off.enabled && off.disabledReason == "key_revoked")
        var on = CronChange()
        on.enabled = true
        let back = try #require(try await store.updateCron(tenant: "t1", id: "c1", on, now: clock.now))
        #expect(back.enabled && back.disabledReason == nil)

        #expect(try await store.deleteCron(tenant: "t1", id: "c1"))
        #expect(try await other.cron(tenant: "t1", id: "c1") == nil)
        #expect(try await store.deleteCron(tenant: "t1", id: "c1") == false)
    }

    func cronSearch() async throws {
        let store = try makeStore()
        _ = try await store.createCron(cron("a", next: clock.now + 30, metadata: #"{"team":"ops"}"#))
        clock.advance(1)
        _ = try await store.createCron(cron("b", thread: "t1\u{1F}th", assistant: "other", next: clock.now + 10, metadata: #"{"team":"dev"}"#))
        clock.advance(1)
        _ = try await store.createCron(cron("c", next: nil, enabled: false))
        _ = try await store.createCron(cron("z", tenant: "t2", next: clock.now))

        func ids(_ query: CronQuery) async throws -> [String] { try await store.searchCrons(query).map(\.id) }
        #expect(try await ids(CronQuery(tenant: "t1")) == ["c", "b", "a"])
        #expect(try await ids(CronQuery(tenant: "t1", descending: false)) == ["a", "b", "c"])
        #expect(try await ids(CronQuery(tenant: "t1", sortBy: .cronID, descending: false, limit: 2, offset: 1)) == ["b", "c"])
        #expect(try await ids(CronQuery(tenant: "t1", assistantID: "other")) == ["b"])
        #expect(try await ids(CronQuery(tenant: "t1", threadID: "t1\u{1F}th")) == ["b"])
        #expect(try await ids(CronQuery(tenant: "t1", enabled: false)) == ["c"])
        #expect(try await ids(CronQuery(tenant: "t1", metadata: [(key: "team", value: #""ops""#)])) == ["a"])
        // No next run sorts first ascending, last descending, in both stores.
        #expect(try await ids(CronQuery(tenant: "t1", sortBy: .nextRunDate, descending: false)) == ["c", "b", "a"])
        #expect(try await ids(CronQuery(tenant: "t1", sortBy: .nextRunDate, descending: true)) == ["a", "b", "c"])
        #expect(try await store.countCrons(CronQuery(tenant: "t1", limit: 1)) == 3)
        #expect(try await store.countCrons(CronQuery(tenant: "t1", enabled: true)) == 2)
        #expect(try await store.countCrons(CronQuery(tenant: "t3")) == 0)
    }

    func cronFiringsOnce() async throws {
        let store = try makeStore(), other = try makeStore()
        let first = clock.now + 60
        _ = try await store.createCron(cron("f", next: first))
        _ = try await store.createCron(cron("off", next: clock.now, enabled: false))
        #expect(try await store.dueCrons(now: clock.now, limit: 10).isEmpty)
        #expect(try await store.nextCronDue() == first)
        let due = try await store.dueCrons(now: first, limit: 10)
        #expect(due.map(\.id) == ["f"])

        // Two workers race for the same time: one wins; the cron moves to its next time.
        func firing(_ worker: String, at time: Date) -> CronFiring {
            CronFiring(cronID: "f", scheduledAt: time, tenant: "t1", runID: "run-\(worker)", threadID: nil, status: .claimed, worker: worker,
                       updatedAt: clock.now)
        }
        async let a = store.claimCronFiring(firing("w1", at: first), next: first + 60)
        async let b = other.claimCronFiring(firing("w2", at: first), next: first + 60)
        let (wonA, wonB) = try await (a, b)
        #expect(wonA != wonB)
        #expect(try await store.cron(tenant: "t1", id: "f")?.nextRunDate == first + 60)
        // A late claim of the time that fired, even with the cron set back to it, makes no second firing.
        #expect(try await other.claimCronFiring(firing("w3", at: first), next: first + 60) == false)
        var back = CronChange()
        back.nextRunDate = .some(first)
        _ = try await store.updateCron(tenant: "t1", id: "f", back, now: clock.now)
        #expect(try await other.claimCronFiring(firing("w3", at: first), next: first + 120) == false)
        // ...but the cron goes on to its next time rather than stay due for a time that fired.
        #expect(try await store.cron(tenant: "t1", id: "f")?.nextRunDate == first + 120)

        let fired = try await store.cronFirings(cron: "f", limit: 10)
        #expect(fired.count == 1 && fired[0].status == .claimed && fired[0].runID == (wonA ? "run-w1" : "run-w2"))
        clock.advance(30)
        #expect(try await store.cronFirings(status: .claimed, before: clock.now, limit: 10).map(\.cronID) == ["f"])
        try await other.setCronFiring(cronID: "f", scheduledAt: first, status: .cleanup, detail: nil, now: clock.now)
        #expect(try await store.cronFirings(status: .claimed, before: clock.now + 1, limit: 10).isEmpty)
        #expect(try await store.cronFirings(status: .cleanup, before: clock.now + 1, limit: 10).first?.scheduledAt == first)
        try await other.setCronFiring(cronID: "f", scheduledAt: first, status: .failed, detail: "key_revoked", now: clock.now)
        #expect(try await store.cronFirings(cron: "f", limit: 1).first?.detail == "key_revoked")

        // A claim for a time that is not the cron's next fails; the last firing ends the schedule: never due again.
        #expect(try await store.claimCronFiring(firing("w1", at: first + 60), next: nil) == false)
        #expect(try await store.claimCronFiring(firing("w1", at: first + 120), next: nil))
        #expect(try await store.cron(tenant: "t1", id: "f")?.nextRunDate == nil)
        #expect(try await store.dueCrons(now: first + 86_400, limit: 10).isEmpty)
        // Firings outlive their cron (a thread may still be waiting to be cleaned up).
        #expect(try await store.deleteCron(tenant: "t1", id: "f"))
        #expect(try await store.cronFirings(cron: "f", limit: 10).map(\.scheduledAt) == [first + 120, first])
        // Settled firings go after their time; one still claimed (its run maybe not made) stays.
        #expect(try await other.pruneCronFirings(before: clock.now + 1) == 1)
        #expect(try await store.cronFirings(cron: "f", limit: 10).map(\.status) == [.claimed])
    }

    func cronLimit() async throws {
        let store = try makeStore()
        for index in 0..<StoreLimits.maxCronsPerTenant { _ = try await store.createCron(cron("c\(index)", next: nil)) }
        await #expect(throws: StoreError.cronLimit(limit: StoreLimits.maxCronsPerTenant)) {
            _ = try await store.createCron(cron("over", next: nil))
        }
        _ = try await store.createCron(cron("other-tenant", tenant: "t2", next: nil))
    }
}
