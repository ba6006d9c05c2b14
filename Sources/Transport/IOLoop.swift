import Runs
import Glibc
import Logging
import Synchronization

/// One thread that owns every in-flight async response: it writes queued bytes when a socket is writable
/// (epoll), notices at once when nginx closes a connection because its client left (EPOLLRDHUP), sends
/// heartbeats on silent streams, and ends each request in libfcgi. An open stream costs a queue entry
/// and an epoll registration here, not a thread.
final class IOLoop: @unchecked Sendable {
    /// Bytes per connection per round: far under the free space that EPOLLOUT promises on a socket whose
    /// send buffer is at least 208 KiB, so libfcgi's blocking write() returns at once.
    static let writeBudget = 32 * 1024
    private static let wakeID: UInt64 = 0

    private let epollFD: Int32
    private let wakeFD: Int32
    private let logger: Logger
    private let inbox = Mutex(Inbox())
    /// Owned by the loop thread.
    private var connections: [UInt64: Connection] = [:]
    private var wantsWritable: Set<UInt64> = []
    private let nextID = Atomic<UInt64>(1)
    let activeCount = Atomic<Int>(0)
    /// Announced each time `activeCount` reaches 0: a draining worker awaits it.
    private let idle = Bell()

    private struct Inbox {
        var adopted: [Connection] = []
        var dirty: [Connection] = []
        var wakePending = false
        var command: Command?
    }

    enum Command { case cancelAll, stop }

    init(logger: Logger) throws {
        epollFD = try System.epollCreate()
        wakeFD = try System.eventFD()
        self.logger = logger
        try System.epollAdd(epollFD, wakeFD, .readable, id: Self.wakeID)
    }

    func makeID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var isIdle: Bool { activeCount.load(ordering: .relaxed) == 0 }

    /// Returns once no request is in flight (or the task is cancelled).
    func whenIdle() async {
        await idle.wait { isIdle }
    }

    // MARK: Any thread

    /// Hands a connection to the loop; from now on only the loop thread touches its libfcgi request.
    func adopt(_ connection: Connection) {
        activeCount.wrappingAdd(1, ordering: .relaxed)
        let wake = inbox.withLock { inbox in
            inbox.adopted.append(connection)
            return Self.takeWake(&inbox)
        }
        if wake { signalWake() }
    }

    func markDirty(_ connection: Connection) {
        guard connection.claimDirty() else { return }
        let wake = inbox.withLock { inbox in
            inbox.dirty.append(connection)
            return Self.takeWake(&inbox)
        }
        if wake { signalWake() }
    }

    func send(_ command: Command) {
        let wake = inbox.withLock { inbox in
            inbox.command = command
            return Self.takeWake(&inbox)
        }
        if wake { signalWake() }
    }

    private static func takeWake(_ inbox: inout Inbox) -> Bool {
        if inbox.wakePending { return false }
        inbox.wakePending = true
        return true
    }

    private func signalWake() {
        try? System.eventFDSignal(wakeFD)
    }

    // MARK: The loop thread

    func run() {
        let events = System.EpollBuffer(capacity: 256)
        var lastTick = System.monotonicNanoseconds()
        while true {
            let count: Int
            do {
                count = try System.epollWait(epollFD, into: events, timeout: 500)
            } catch {
                logger.critical("transport.epoll_failed", metadata: ["errno": "\(error.code ?? 0)"])
                return
            }
            for index in 0..<count {
                let (id, happened) = events[index]
                if id == Self.wakeID { continue }
                guard let connection = connections[id] else { continue }
                if !happened.isDisjoint(with: [.peerClosed, .hangUp, .error]) {
                    // nginx closed the FastCGI connection: its client went away.
                    logger.debug("transport.peer_closed", metadata: ["connection.id": "\(id)"])
                    abort(connection)
                } else if happened.contains(.writable) {
                    flush(connection, writable: true)
                }
            }
            // Reset the wake-up counter before taking the inbox: a wake-up written after this belongs to work
            // the inbox below does not hold yet, and must survive until the next wait.
            try? System.eventFDReset(wakeFD)
            let (adopted, dirty, command) = inbox.withLock { inbox in
                defer {
                    inbox.adopted = []
                    inbox.dirty = []
                    inbox.command = nil
                    inbox.wakePending = false
                }
                return (inbox.adopted, inbox.dirty, inbox.command)
            }
            for connection in adopted { register(connection) }
            for connection in dirty where connections[connection.id] != nil {
                flush(connection, writable: false)
            }
            let now = System.monotonicNanoseconds()
            if now &- lastTick >= 250_000_000 {
                lastTick = now
                for connection in connections.values where connection.heartbeatIfDue(now: now) {
                    flush(connection, writable: false)
                }
            }
            switch command {
            case .cancelAll:
                for connection in connections.values { connection.cancelTask() }
            case .stop:
                for connection in Array(connections.values) { abort(connection) }
                return
            case nil:
                break
            }
        }
    }

    private func register(_ connection: Connection) {
        connections[connection.id] = connection
        do {
            try System.epollAdd(epollFD, connection.fd, .peerClosed, id: connection.id)
        } catch {
            logger.error("transport.epoll_add_failed", metadata: ["errno": "\(error.code ?? 0)"])
            abort(connection)
        }
    }

    private func flush(_ connection: Connection, writable: Bool) {
        if !writable {
            // Already waiting for EPOLLOUT: the event will come.
            if wantsWritable.contains(connection.id) { return }
            let ready = (try? System.pollNow(connection.fd, for: .writable)) ?? []
            if !ready.contains(.writable) {
                if !ready.isDisjoint(with: [.hangUp, .error]) {
                    abort(connection)
                } else {
                    watchWritable(connection, true)
                }
                return
            }
        }
        switch connection.flush(budget: Self.writeBudget) {
        case .idle:
            watchWritable(connection, false)
        case .blocked:
            watchWritable(connection, true)
        case .completed:
            complete(connection)
        case .failed:
            abort(connection)
        }
    }

    private func watchWritable(_ connection: Connection, _ watch: Bool) {
        guard wantsWritable.contains(connection.id) != watch else { return }
        try? System.epollModify(epollFD, connection.fd, watch ? [.peerClosed, .writable] : .peerClosed, id: connection.id)
        if watch { wantsWritable.insert(connection.id) } else { wantsWritable.remove(connection.id) }
    }

    private func complete(_ connection: Connection) {
        release(connection)
    }

    private func abort(_ connection: Connection) {
        connection.abort()
        release(connection)
    }

    private func release(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        wantsWritable.remove(connection.id)
        try? System.epollRemove(epollFD, connection.fd)
        connection.request.finish()
        if activeCount.wrappingSubtract(1, ordering: .relaxed).oldValue == 1 { idle.ring() }
    }
}
