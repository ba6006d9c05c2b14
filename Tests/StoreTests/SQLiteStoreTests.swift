import Foundation
import Store
import Synchronization
import Testing

/// The conformance suite on SQLite, each test on a new database file.
@Suite struct SQLiteStoreTests {
    let path: String
    let clock = ManualNow()
    var conformance: StoreConformance {
        StoreConformance(makeStore: { [path, clock] in try SQLiteStore(path: path, now: { clock.now }) }, clock: clock)
    }

    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("agentfcgi-store-\(UUID().uuidString)/store.sqlite").path
    }

    @Test func threads() async throws { try await conformance.threadsLifecycle() }
    @Test func runsOnThreads() async throws { try await conformance.runOnThreadAppendsMessagesAndCheckpoints() }
    @Test func multitask() async throws { try await conformance.multitaskStrategies() }
    @Test func startsAtOnce() async throws { try await conformance.runsThatStartAtOnce() }
    @Test func approvals() async throws { try await conformance.pendingApprovals() }
    @Test func racingReject() async throws { try await conformance.racingRejectCreatesOneRun() }
    @Test func cancel() async throws { try await conformance.cancellation() }
    @Test func events() async throws { try await conformance.eventLog() }
    @Test func leases() async throws { try await conformance.expiredLeasesFreeTheThread() }
    @Test func prune() async throws { try await conformance.pruning() }
    @Test func background() async throws { try await conformance.backgroundQueueAndTakeover() }
    @Test func fairClaiming() async throws { try await conformance.claimingIsFairAcrossTenants() }
    @Test func pendingCap() async throws { try await conformance.pendingRunsPerKeyAreCapped() }
    @Test func runPlaces() async throws { try await conformance.runPlacesShareTheKeysCount() }
    @Test func tokenReservations() async throws { try await conformance.tokenReservations() }
    @Test func webhooks() async throws { try await conformance.webhookDeliveries() }
    @Test func idempotency() async throws { try await conformance.idempotencyKeys() }
    @Test func jobs() async throws { try await conformance.jobsAndKeyCounts() }
    @Test func threadStampsValuesAndQueueOrder() async throws { try await conformance.threadStampsValuesAndQueueOrder() }
    @Test func messages() async throws { try await conformance.messagesOutsideRuns() }
    @Test func countPruneAndTenantRuns() async throws { try await conformance.countPruneAndTenantRuns() }
    @Test func stateUpdates() async throws { try await conformance.stateUpdates() }
    @Test func callHandles() async throws { try await conformance.callHandles() }
    @Test func secrets() async throws { try await conformance.secrets() }
    @Test func assistants() async throws { try await conformance.assistantsLifecycle() }
    @Test func assistantSearch() async throws { try await conformance.assistantSearch() }
    @Test func assistantLimit() async throws { try await conformance.assistantLimit() }
    @Test func crons() async throws { try await conformance.cronsLifecycle() }
    @Test func cronSearch() async throws { try await conformance.cronSearch() }
    @Test func cronFirings() async throws { try await conformance.cronFiringsOnce() }
    @Test func cronLimit() async throws { try await conformance.cronLimit() }
    @Test func runSearch() async throws { try await conformance.runSearch() }
    @Test func items() async throws { try await conformance.itemsLifecycle() }
    @Test func itemTTL() async throws { try await conformance.itemTTL() }
    @Test func itemSearch() async throws { try await conformance.itemSearch() }
    @Test func itemNamespaces() async throws { try await conformance.itemNamespaces() }

    /// A key look-up is a synchronous read on the thread running its task. Taken from GRDB's reader pool, it could
    /// wait for a reader that an async read holds until its own task resumes, on one of those same (few) threads:
    /// with every such thread waiting, nothing resumes, and the worker stops answering. Many look-ups beside many
    /// async reads must all finish. A hang cannot be caught from a task (no task would run), so a plain thread
    /// ends the process with the reason if the work is not done in time.
    @Test func keyLookupsBesideManyAsyncReadsFinish() async throws {
        let store = try SQLiteStore(path: path)
        let key = APIKeyRecord(id: "k1", hash: String(repeating: "ab", count: 32), name: "k", tenant: "t", scopes: ["runs"],
                               createdAt: Date())
        try await store.createKey(key)
        let done = Atomic<Bool>(false)
        let watchdog = Thread {
            let deadline = Date().addingTimeInterval(60)
            while !done.load(ordering: .acquiring) {
                if Date() > deadline {
                    fatalError("key look-ups beside async reads did not finish in 60 s: the reader pool deadlocked")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        watchdog.start()
        defer { done.store(true, ordering: .releasing) }
        let found = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var found = 0
                    for _ in 0..<50 {
                        _ = try await store.thread(UUID().uuidString)
                        if try await store.key(hash: key.hash)?.id == key.id { found += 1 }
                    }
                    return found
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(found == 64 * 50)
    }

    /// Workers of a host tell each other of appends and waiting runs with datagrams (`HostBells`): the handler is
    /// called only for a datagram, never by a poll, so hearing a notice at all proves it was sent.
    @Test func noticesReachTheOtherWorkersOfTheHost() async throws {
        let writer = try SQLiteStore(path: path)
        let reader = try SQLiteStore(path: path)
        #expect(writer.notifies && reader.notifies)
        _ = try await writer.createThread(NewThread(id: "t"), ifExists: .raise)
        _ = try await writer.createRun(NewRun(id: "r", threadID: "t", assistantID: "x"))
        let heard = Heard(), heardByWriter = Heard()
        let listening = Task { try await reader.follow { heard.add($0) } }
        let writerListening = Task { try await writer.follow { heardByWriter.add($0) } }
        try await waitForSockets(2)
        // A process that died leaves its socket file with nobody bound: the next send removes it and still reaches the others.
        let dead = try deadSocket()
        try await writer.appendEvent(run: "r", EventRecord(seq: 1, event: "metadata", data: Array("{}".utf8)))
        await writer.notify(.runsWaiting)
        await writer.notify(.cronsChanged)
        try await until { heard.notices.count == 3 }
        #expect(heard.notices == [.appended(run: "r"), .runsWaiting, .cronsChanged])
        #expect(!FileManager.default.fileExists(atPath: dead))
        await reader.notify(.runsWaiting)
        try await until { heardByWriter.notices.count == 1 }
        // Its own notices are not sent back to it (its waiters were told in process).
        #expect(heardByWriter.notices == [.runsWaiting])
        #expect(heard.notices.count == 3)
        // Cancelled, a follower returns and takes its socket away.
        listening.cancel()
        writerListening.cancel()
        _ = await listening.result
        _ = await writerListening.result
        #expect(try sockets().isEmpty)
    }

    /// A follower slower than the notices (a datagram queue holds 10) still gets each of them: the sender keeps
    /// what a full queue refused and sends it again once there is room.
    @Test func aFollowerBehindGetsEveryNotice() async throws {
        let writer = try SQLiteStore(path: path), reader = try SQLiteStore(path: path)
        let heard = Heard()
        let listening = Task {
            try await reader.follow { notice in
                // Its thread stalls at first, as a busy process's may: the queue fills.
                if heard.notices.isEmpty { Thread.sleep(forTimeInterval: 0.3) }
                heard.add(notice)
            }
        }
        defer { listening.cancel() }
        try await waitForSockets(1)
        let runs = (0..<100).map { "run-\($0)" }
        for run in runs { await writer.notify(.appended(run: run)) }
        try await until { Set(heard.notices).count == runs.count }
        #expect(Set(heard.notices) == Set(runs.map { StoreNotice.appended(run: $0) }))
    }

    /// A database deeper than a socket address can name still gets notices (through `/proc/self/fd`).
    @Test func noticesWorkBesideADeepPath() async throws {
        let deep = FileManager.default.temporaryDirectory.appendingPathComponent("agentfcgi-store-\(UUID().uuidString)")
            .appendingPathComponent(String(repeating: "d", count: 90)).appendingPathComponent("store.sqlite").path
        let writer = try SQLiteStore(path: deep), reader = try SQLiteStore(path: deep)
        let heard = Heard()
        let listening = Task { try await reader.follow { heard.add($0) } }
        defer { listening.cancel() }
        let directory = deep + ".bells"
        try await until { (try? FileManager.default.contentsOfDirectory(atPath: directory).count) == 1 }
        await writer.notify(.cronsChanged)
        try await until { heard.notices.count == 1 }
        #expect(heard.notices == [.cronsChanged])
    }

    /// A command run as root (without `sudo -u`) that makes the bells folder leaves it to the database's owner, whose
    /// workers bind in it.
    @Test(.enabled(if: getuid() == 0)) func aFolderRootMakesBelongsToTheDatabasesOwner() throws {
        _ = try SQLiteStore(path: path)
        try FileManager.default.removeItem(atPath: bellsDirectory)
        #expect(chown(path, 65534, 65534) == 0)
        _ = try SQLiteStore(path: path)
        let owner = try FileManager.default.attributesOfItem(atPath: bellsDirectory)[.ownerAccountID] as? NSNumber
        #expect(owner?.intValue == 65534)
    }

    /// A bells folder others may write in (made beforehand in a shared place) or a symlink is not used: notices off.
    @Test func aFolderOthersCanWriteInIsNotUsed() throws {
        _ = try SQLiteStore(path: path)
        #expect(chmod(bellsDirectory, 0o777) == 0)
        #expect(try !SQLiteStore(path: path).notifies)
        try FileManager.default.removeItem(atPath: bellsDirectory)
        let elsewhere = (path as NSString).deletingLastPathComponent + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: bellsDirectory, withDestinationPath: elsewhere)
        #expect(try !SQLiteStore(path: path).notifies)
        try FileManager.default.removeItem(atPath: bellsDirectory)
        #expect(try SQLiteStore(path: path).notifies)
    }

    @Test func noticePayloadsReadBack() {
        for notice in [StoreNotice.appended(run: "0b5f3c1e-1111-4222-8333-944445555666"), .runsWaiting, .cronsChanged,
                       .threadRun(thread: "tenant:7/thread:x"), .answered(approval: "c3b1a9e2-0000-4000-8000-000000000001")] {
            #expect(StoreNotice(payload: notice.payload) == notice)
        }
        #expect(StoreNotice(payload: "!newer-kind") == nil)
        #expect(StoreNotice(payload: "") == nil)
    }

    private var bellsDirectory: String { (path as NSString).standardizingPath + ".bells" }

    private func sockets() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: bellsDirectory).filter { $0.hasSuffix(".sock") }
    }

    private func waitForSockets(_ count: Int) async throws {
        try await until { (try? sockets().count) == count }
    }

    private func until(_ condition: () throws -> Bool) async throws {
        let start = ContinuousClock.now
        while try !condition(), ContinuousClock.now - start < .seconds(20) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try condition())
    }

    /// A socket file bound by a descriptor since closed: what a worker killed -9 leaves.
    private func deadSocket() throws -> String {
        let path = bellsDirectory + "/1-dead.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(bound == 0)
        #expect(FileManager.default.fileExists(atPath: path))
        return path
    }

    final class Heard: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [StoreNotice] = []
        func add(_ notice: StoreNotice) { lock.lock(); values.append(notice); lock.unlock() }
        var notices: [StoreNotice] { lock.lock(); defer { lock.unlock() }; return values }
    }

    @Test func workersOpeningANewFileTogetherMigrateOnce() async throws {
        let stores = try await withThrowingTaskGroup(of: SQLiteStore.self) { group in
            for _ in 0..<6 { group.addTask { [path] in try SQLiteStore(path: path) } }
            return try await group.reduce(into: [SQLiteStore]()) { $0.append($1) }
        }
        #expect(stores.count == 6)
        #expect(try stores[0].appliedMigrations() == ["0001-threads-runs-events", "0002-background-runs-webhooks-idempotency", "0003-api-keys-tenants-usage", "0004-run-jobs", "0005-thread-values", "0006-call-handles", "0007-assistants", "0008-store-items", "0009-crons", "0010-run-places", "0011-pending-approvals", "0012-secrets", "0013-pruning-indexes"])
        let mode = try stores[0].journalMode()
        #expect(mode == "wal")
    }
}
