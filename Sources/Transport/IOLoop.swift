import Runs
import CLinux
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
    private static let epollIn: UInt32 = 0x001, epollOut: UInt32 = 0x004, epollErr: UInt32 = 0x008
    private static let epollHup: UInt32 = 0x010, epollRdHup: UInt32 = 0x2000
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
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw TransportError.system("epoll_create1", errno) }
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeFD >= 0 else { throw TransportError.system("eventfd", errno) }
        self.logger = logger
        var event = epoll_event()
        event.events = Self.epollIn
        event.data.u64 = Self.wakeID
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else { throw TransportError.system("epoll_ctl", errno) }
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
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: The loop thread

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastTick = monotonicNanoseconds()
        while true {
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32($0.count), 500) }
            if count < 0 && errno != EINTR {
                logger.critical("transport.epoll_failed", metadata: ["errno": "\(errno)"])
                return
            }
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                let id = event.data.u64
                if id == Self.wakeID { continue }
                guard let connection = connections[id] else { continue }
                if event.events & (Self.epollRdHup | Self.epollHup | Self.epollErr) != 0 {
                    // nginx closed the FastCGI connection: its client went away.
                    logger.debug("transport.peer_closed", metadata: ["connection.id": "\(id)"])
                    abort(connection)
                } else if event.events & Self.epollOut != 0 {
                    flush(connection, writable: true)
                }
            }
            // Drain the eventfd before taking the inbox: a wake-up written after this read belongs to work
            // the inbox below does not hold yet, and must survive until the next epoll_wait.
            var drainEvent: UInt64 = 0
            _ = Glibc.read(wakeFD, &drainEvent, 8)
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
            let now = monotonicNanoseconds()
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
        var event = epoll_event()
        event.events = Self.epollRdHup
        event.data.u64 = connection.id
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd, &event) != 0 {
            logger.error("transport.epoll_add_failed", metadata: ["errno": "\(errno)"])
            abort(connection)
        }
    }

    private func flush(_ connection: Connection, writable: Bool) {
        if !writable {
            // Already waiting for EPOLLOUT: the event will come.
            if wantsWritable.contains(connection.id) { return }
            var poller = pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, 0)
            if ready < 0 || poller.revents & Int16(POLLOUT) == 0 {
                if poller.revents & Int16(POLLHUP | POLLERR) != 0 {
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
        var event = epoll_event()
        event.events = Self.epollRdHup | (watch ? Self.epollOut : 0)
        event.data.u64 = connection.id
        epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, &event)
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
        epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, nil)
        connection.request.finish()
        if activeCount.wrappingSubtract(1, ordering: .relaxed).oldValue == 1 { idle.ring() }
    }
}
