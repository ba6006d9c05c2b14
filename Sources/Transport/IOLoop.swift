import Runs
import Logging
import Synchronization

/// One thread that owns every in-flight async response: it writes queued bytes when a socket is writable
/// (epoll), notices at once when nginx closes a connection because its client left (EPOLLRDHUP), sends
/// heartbeats on silent streams, and ends each request (its end records, then close). An open stream costs a
/// queue entry and an epoll registration here, not a thread.
///
/// This type is the loop's shared side, safe from any thread: the inbox that other threads hand work to (behind a
/// lock), the eventfd that wakes the loop, the counters. What only the loop thread touches (the connections, their
/// epoll registrations, the events buffer) is made by `run` and never leaves it (`LoopState`).
final class IOLoop: Sendable {
    /// Bytes per connection per round: far under the free space that EPOLLOUT promises on a socket whose
    /// send buffer is at least 208 KiB, so the blocking write() returns at once.
    static let writeBudget = 32 * 1024
    fileprivate static let wakeID: UInt64 = 0

    private let epollFD: Int32
    private let wakeFD: Int32
    private let logger: Logger
    private let inbox = Mutex(Inbox())
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

    /// Hands a connection to the loop; from now on only the loop thread touches its FastCGI request.
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

    /// Runs the loop on the calling thread until `.stop` (or until epoll fails).
    func run() {
        let events = System.EpollBuffer(capacity: 256)
        var state = LoopState(loop: self, epollFD: epollFD, logger: logger)
        var lastTick = System.monotonicNanoseconds()
        while true {
            let count: Int
            do {
                // Without connections there is no heartbeat to send: sleep until the eventfd brings work.
                count = try System.epollWait(epollFD, into: events, timeout: state.isEmpty ? -1 : 500)
            } catch {
                logger.critical("transport.epoll_failed", metadata: ["errno": "\(error.code ?? 0)"])
                return
            }
            for index in 0..<count {
                let (id, happened) = events[index]
                if id != Self.wakeID { state.handle(happened, on: id) }
            }
            // Reset the wake-up counter before taking the inbox: a wake-up written after this belongs to work
            // the inbox below does not hold yet, and must survive until the next wait.
            try? System.eventFDReset(wakeFD)
            let taken = inbox.withLock { inbox in
                defer { inbox = Inbox() }
                return inbox
            }
            for connection in taken.adopted { state.register(connection) }
            for connection in taken.dirty { state.flushIfOpen(connection) }
            let now = System.monotonicNanoseconds()
            if now &- lastTick >= 250_000_000 {
                lastTick = now
                state.sendHeartbeats(now: now)
            }
            switch taken.command {
            case .cancelAll:
                state.cancelAll()
            case .stop:
                state.abortAll()
                return
            case nil:
                break
            }
        }
    }

    /// A connection has left the loop.
    fileprivate func released() {
        if activeCount.wrappingSubtract(1, ordering: .relaxed).oldValue == 1 { idle.ring() }
    }
}

/// What only the loop thread touches: the connections it serves and which of them wait for EPOLLOUT. `IOLoop.run` makes
/// it and keeps it to itself, so none of it needs a lock.
private struct LoopState {
    let loop: IOLoop
    let epollFD: Int32
    let logger: Logger
    private var connections: [UInt64: Connection] = [:]
    private var wantsWritable: Set<UInt64> = []

    init(loop: IOLoop, epollFD: Int32, logger: Logger) {
        self.loop = loop
        self.epollFD = epollFD
        self.logger = logger
    }

    var isEmpty: Bool { connections.isEmpty }

    mutating func handle(_ happened: System.EpollEvents, on id: UInt64) {
        guard let connection = connections[id] else { return }
        if !happened.isDisjoint(with: [.peerClosed, .hangUp, .error]) {
            // nginx closed the FastCGI connection: its client went away.
            logger.debug("transport.peer_closed", metadata: ["connection.id": "\(id)"])
            abort(connection)
        } else if happened.contains(.writable) {
            flush(connection, writable: true)
        }
    }

    mutating func register(_ connection: Connection) {
        connections[connection.id] = connection
        do {
            try System.epollAdd(epollFD, connection.fd, .peerClosed, id: connection.id)
        } catch {
            logger.error("transport.epoll_add_failed", metadata: ["errno": "\(error.code ?? 0)"])
            abort(connection)
        }
    }

    /// Flushes a connection that a handler wrote to, unless it has left the loop meanwhile.
    mutating func flushIfOpen(_ connection: Connection) {
        guard connections[connection.id] != nil else { return }
        flush(connection, writable: false)
    }

    mutating func sendHeartbeats(now: UInt64) {
        for connection in connections.values where connection.heartbeatIfDue(now: now) {
            flush(connection, writable: false)
        }
    }

    func cancelAll() {
        for connection in connections.values { connection.cancelTask() }
    }

    mutating func abortAll() {
        for connection in Array(connections.values) { abort(connection) }
    }

    private mutating func flush(_ connection: Connection, writable: Bool) {
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
        switch connection.flush(budget: IOLoop.writeBudget) {
        case .idle:
            watchWritable(connection, false)
        case .blocked:
            watchWritable(connection, true)
        case .completed:
            release(connection)
        case .failed:
            abort(connection)
        }
    }

    private mutating func watchWritable(_ connection: Connection, _ watch: Bool) {
        guard wantsWritable.contains(connection.id) != watch else { return }
        try? System.epollModify(epollFD, connection.fd, watch ? [.peerClosed, .writable] : .peerClosed, id: connection.id)
        if watch { wantsWritable.insert(connection.id) } else { wantsWritable.remove(connection.id) }
    }

    private mutating func abort(_ connection: Connection) {
        connection.abort()
        release(connection)
    }

    /// The end records of a response the loop is waiting to write fit without blocking: a flush fills at most a
    /// quarter of the send buffer, and only once three quarters of it are free.
    private mutating func release(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        wantsWritable.remove(connection.id)
        try? System.epollRemove(epollFD, connection.fd)
        connection.request.finish()
        loop.released()
    }
}

/// The loop thread's alone.
@available(*, unavailable)
extension LoopState: Sendable {}
