import CLinux
import Glibc
import Telemetry

// Every POSIX call of the transport and of the `agentfcgi` executable goes through this file (libfcgi's own calls stay
// in FastCGI.swift), as NIOPosix's System.swift does for NIO, so that a few rules hold everywhere:
// - errno is read right after the call, in the wrapper, before anything else (a log line, an allocation, a lock) can
//   overwrite it;
// - a call that a signal interrupts (EINTR) is made again; the draining worker signals its acceptors, and a handler
//   installed without SA_RESTART makes any interrupted call on those threads fail. Except close(), since Linux frees the
//   descriptor even then and a second close could close one another thread has just been given; connect(), which goes
//   on in the background; and epoll_wait(), whose interruption is a turn with no events, as after a timeout;
// - a failure is thrown as `TransportError.system(call, errno)` (pthread calls return their error instead of setting
//   errno); callers decide which failures matter, none checks for -1;
// - flags and events are named (`EpollEvents`, `PollEvents`, the C constants), never written as numbers.

package enum System {
    /// Makes `call` until it does not fail with EINTR; throws any other failure with its errno.
    @inline(__always)
    private static func retrying<Result: FixedWidthInteger>(
        _ name: @autoclosure () -> String, _ call: () -> Result
    ) throws(TransportError) -> Result {
        while true {
            let result = call()
            guard result == -1 else { return result }
            let code = errno
            if code != EINTR { throw .system(name(), code) }
        }
    }

    /// For the pthread calls, which return an error number and leave errno alone.
    @inline(__always)
    private static func checking(_ name: String, _ result: Int32) throws(TransportError) {
        if result != 0 { throw .system(name, result) }
    }

    // MARK: epoll and eventfd (the I/O loop)

    /// What epoll reports on a descriptor, or is asked to watch for.
    package struct EpollEvents: OptionSet, Sendable {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }

        package static let readable = EpollEvents(rawValue: EPOLLIN.rawValue)
        package static let writable = EpollEvents(rawValue: EPOLLOUT.rawValue)
        package static let error = EpollEvents(rawValue: EPOLLERR.rawValue)
        package static let hangUp = EpollEvents(rawValue: EPOLLHUP.rawValue)
        /// The peer closed its end: nginx does so the moment its client leaves.
        package static let peerClosed = EpollEvents(rawValue: EPOLLRDHUP.rawValue)
    }

    package static func epollCreate() throws(TransportError) -> Int32 {
        try retrying("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    /// Watches `fd` for `events`; each event carries `id`.
    package static func epollAdd(_ epoll: Int32, _ fd: Int32, _ events: EpollEvents, id: UInt64) throws(TransportError) {
        try epollControl(epoll, EPOLL_CTL_ADD, "epoll_ctl(ADD)", fd, events, id: id)
    }

    package static func epollModify(_ epoll: Int32, _ fd: Int32, _ events: EpollEvents, id: UInt64) throws(TransportError) {
        try epollControl(epoll, EPOLL_CTL_MOD, "epoll_ctl(MOD)", fd, events, id: id)
    }

    package static func epollRemove(_ epoll: Int32, _ fd: Int32) throws(TransportError) {
        _ = try retrying("epoll_ctl(DEL)") { epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil) }
    }

    private static func epollControl(
        _ epoll: Int32, _ operation: Int32, _ name: StaticString, _ fd: Int32, _ events: EpollEvents, id: UInt64
    ) throws(TransportError) {
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = id
        _ = try retrying("\(name)") { epoll_ctl(epoll, operation, fd, &event) }
    }

    /// Room for the events of one epoll_wait, kept by the thread that waits.
    package struct EpollBuffer: ~Copyable {
        fileprivate let events: UnsafeMutableBufferPointer<epoll_event>

        package init(capacity: Int) {
            events = .allocate(capacity: capacity)
            events.initialize(repeating: epoll_event())
        }

        deinit { events.deallocate() }

        /// The `index`th event of the last wait: the id it was registered with, and what happened.
        package subscript(index: Int) -> (id: UInt64, events: EpollEvents) {
            let event = events[index]
            return (event.data.u64, EpollEvents(rawValue: event.events))
        }
    }

    /// Waits up to `milliseconds` for events; returns how many `buffer` now holds. An interrupted wait returns none, as
    /// a timeout does.
    package static func epollWait(
        _ epoll: Int32, into buffer: borrowing EpollBuffer, timeout milliseconds: Int32
    ) throws(TransportError) -> Int {
        let count = epoll_wait(epoll, buffer.events.baseAddress, Int32(buffer.events.count), milliseconds)
        if count >= 0 { return Int(count) }
        let code = errno
        if code == EINTR { return 0 }
        throw .system("epoll_wait", code)
    }

    /// A non-blocking eventfd: one thread's wake-up call for another blocked in epoll_wait.
    package static func eventFD() throws(TransportError) -> Int32 {
        try retrying("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    /// Adds one to an eventfd's counter, which makes it readable.
    package static func eventFDSignal(_ fd: Int32) throws(TransportError) {
        var one: UInt64 = 1
        _ = try withUnsafeBytes(of: &one) { (bytes) throws(TransportError) in try write(fd, bytes) }
    }

    /// Resets an eventfd's counter to zero; nothing to do if it was.
    package static func eventFDReset(_ fd: Int32) throws(TransportError) {
        var count: UInt64 = 0
        _ = try withUnsafeMutableBytes(of: &count) { (bytes) throws(TransportError) in try read(fd, into: bytes) }
    }

    // MARK: Descriptors

    /// read(2); nil when a non-blocking descriptor has nothing to read (EAGAIN).
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int? {
        do throws(TransportError) {
            return try retrying("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        } catch .system(_, EAGAIN) {
            return nil
        }
    }

    /// write(2), once: the count written may be short. nil when a non-blocking descriptor has no room (EAGAIN).
    package static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(TransportError) -> Int? {
        do throws(TransportError) {
            return try retrying("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
        } catch .system(_, EAGAIN) {
            return nil
        }
    }

    /// Writes `text` to stderr in one write(2), so that lines from several threads and processes sharing the file do
    /// not interleave. Not continued after a short write: the rest could land inside another line. Nothing is
    /// reported: stderr is where failures would be reported.
    package static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { writeStandardError(UnsafeRawBufferPointer($0)) }
    }

    package static func writeStandardError(_ bytes: UnsafeRawBufferPointer) {
        _ = try? write(STDERR_FILENO, bytes)
    }

    /// close(2), never made again: Linux frees the descriptor even when close is interrupted, so EINTR counts as done.
    package static func close(_ fd: Int32) throws(TransportError) {
        guard Glibc.close(fd) == -1 else { return }
        let code = errno
        if code != EINTR { throw .system("close", code) }
    }

    /// What poll(2) reports on a descriptor, or is asked to watch for.
    package struct PollEvents: OptionSet, Sendable {
        package let rawValue: Int16
        package init(rawValue: Int16) { self.rawValue = rawValue }

        package static let readable = PollEvents(rawValue: Int16(POLLIN))
        package static let writable = PollEvents(rawValue: Int16(POLLOUT))
        package static let error = PollEvents(rawValue: Int16(POLLERR))
        package static let hangUp = PollEvents(rawValue: Int16(POLLHUP))
    }

    /// The events `fd` has now, of `events` (and errors and hang-ups, which poll always reports); never waits.
    package static func pollNow(_ fd: Int32, for events: PollEvents) throws(TransportError) -> PollEvents {
        var entry = pollfd(fd: fd, events: events.rawValue, revents: 0)
        _ = try retrying("poll") { poll(&entry, 1, 0) }
        return PollEvents(rawValue: entry.revents)
    }

    // MARK: Sockets

    package static func makeSocket(_ domain: Int32, _ type: Int32) throws(TransportError) -> Int32 {
        try retrying("socket") { Glibc.socket(domain, type, 0) }
    }

    /// connect(2) to a unix socket's path. Not made again when interrupted: the connection then goes on in the
    /// background, and a second call fails with EALREADY.
    package static func connect(_ fd: Int32, unixPath path: String) throws(TransportError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw .system("connect(\(path))", ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == -1 else { return }
        let code = errno
        throw .system("connect(\(path))", code)
    }

    /// An integer socket option (SO_SNDBUF, SO_ACCEPTCONN ...).
    package static func socketOption(_ fd: Int32, _ level: Int32, _ name: Int32) throws(TransportError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try retrying("getsockopt") { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    /// A socket option whose value is a plain C value (an int, a timeval ...).
    package static func setSocketOption<Value: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Value)
        throws(TransportError)
    {
        _ = try withUnsafeBytes(of: value) { (bytes) throws(TransportError) in
            try retrying("setsockopt") { setsockopt(fd, level, name, bytes.baseAddress, socklen_t(bytes.count)) }
        }
    }

    // MARK: Files

    package static func unlink(_ path: String) throws(TransportError) {
        _ = try retrying("unlink(\(path))") { Glibc.unlink(path) }
    }

    package static func chmod(_ path: String, _ mode: mode_t) throws(TransportError) {
        _ = try retrying("chmod(\(path))") { Glibc.chmod(path, mode) }
    }

    /// Gives `path` to `group`, leaving its owner as it is.
    package static func chown(_ path: String, group: gid_t) throws(TransportError) {
        _ = try retrying("chown(\(path))") { Glibc.chown(path, uid_t.max, group) }
    }

    /// Sets the process's umask; returns the one before. Cannot fail.
    package static func umask(_ mask: mode_t) -> mode_t {
        Glibc.umask(mask)
    }

    package static func makeDirectory(_ path: String, mode: mode_t) throws(TransportError) {
        _ = try retrying("mkdir(\(path))") { mkdir(path, mode) }
    }

    // MARK: Signals

    /// Sets the calling thread's mask to block exactly `signals` (SIG_SETMASK); threads it starts inherit the mask.
    package static func setSignalMask(blocking signals: [Int32]) throws(TransportError) {
        var set = signalSet(signals)
        try checking("pthread_sigmask(SETMASK)", pthread_sigmask(SIG_SETMASK, &set, nil))
    }

    /// Lets `signals` reach the calling thread.
    package static func unblockSignals(_ signals: [Int32]) throws(TransportError) {
        var set = signalSet(signals)
        try checking("pthread_sigmask(UNBLOCK)", pthread_sigmask(SIG_UNBLOCK, &set, nil))
    }

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }

    /// The process ignores `signal` (SIGPIPE: a write to a closed socket then fails with EPIPE instead).
    package static func ignoreSignal(_ signal: Int32) throws(TransportError) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&action.sa_mask)
        _ = try retrying("sigaction") { sigaction(signal, &action, nil) }
    }

    /// Installs a handler that does nothing, without SA_RESTART, so that `signal` interrupts a blocking call with EINTR
    /// (`agentfcgi_install_wake_handler` in CLinux).
    package static func installWakeHandler(_ signal: Int32) throws(TransportError) {
        _ = try retrying("sigaction") { agentfcgi_install_wake_handler(signal) }
    }

    /// Sends `signal` to one thread of this process.
    package static func signal(_ thread: pthread_t, _ signal: Int32) throws(TransportError) {
        try checking("pthread_kill", pthread_kill(thread, signal))
    }

    // MARK: Threads and the process

    /// Starts a joinable thread named `name` (at most 15 bytes show) that runs `body`.
    package static func startThread(name: String, _ body: @escaping () -> Void) throws(TransportError) -> pthread_t {
        let box = Unmanaged.passRetained(ThreadBox(name: name, body: body))
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            let box = Unmanaged<ThreadBox>.fromOpaque(context!).takeRetainedValue()
            agentfcgi_name_thread(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw .system("pthread_create", result)
        }
        return handle
    }

    package static func join(_ thread: pthread_t) throws(TransportError) {
        try checking("pthread_join", pthread_join(thread, nil))
    }

    private final class ThreadBox {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// No process of the same user may read this one's memory or environ, or attach to it.
    package static func forbidDumps() throws(TransportError) {
        _ = try retrying("prctl(PR_SET_DUMPABLE)") { agentfcgi_not_dumpable() }
    }

    package static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The id of the group `name`, nil if there is none. getgrnam is not thread-safe: for start-up only.
    package static func groupID(named name: String) -> gid_t? {
        getgrnam(name)?.pointee.gr_gid
    }

    // MARK: memory

    /// Caps glibc's malloc at `count` arenas, unless `MALLOC_ARENA_MAX` in the environment already chose. glibc
    /// makes up to 8 a core, one per thread that meets a locked one; a worker's threads (acceptors, the I/O loop, the
    /// executors, GRDB's queues) left five extra arenas of freed memory in an idle worker, 0.6 MiB of its RSS. Each
    /// thread's cache (tcache) takes most allocations without a lock, so fewer arenas cost no measured throughput
    /// (bench/README.md, "Idle worker"). Call it before other threads exist.
    @discardableResult
    package static func limitMallocArenas(to count: Int32) -> Bool {
        guard getenv("MALLOC_ARENA_MAX") == nil else { return false }
        return mallopt(M_ARENA_MAX, count) == 1
    }

    /// What `releaseStartupPages` let go.
    package struct Released: Sendable {
        /// Resident bytes of the file mappings whose pages were dropped from this process's page table.
        package var mappedBytes = 0
        /// Read-only file mappings left alone because some of their pages are private copies.
        package var keptMappings = 0
    }

    /// Lets go of what start-up touched and an idle worker does not use again. The clean pages of read-only private
    /// file mappings (the code and constants of the binary and its libraries) leave this process's page table: they
    /// stay in the page cache, which every worker shares, and the next access maps them again (a minor fault). A
    /// mapping with private copies among its pages (relocations the loader wrote before making it read-only) is left
    /// alone, since dropping a copy would bring back the file's bytes; so is any writable or shared one. Then malloc
    /// gives its free memory back (`malloc_trim`). Reads /proc/self/smaps: a few hundred mappings, once.
    @discardableResult
    package static func releaseStartupPages() -> Released {
        var released = Released()
        guard let text = MetricsExposition.read("/proc/self/smaps") else { return released }
        // Private copies are counted as Anonymous while resident and as Swap once swapped out.
        struct Mapping { var start = 0, end = 0, eligible = false, residentKiB = 0, copiedKiB = 0 }
        var mappings: [Mapping] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Rss:") || line.hasPrefix("Anonymous:") || line.hasPrefix("Swap:") {
                guard !mappings.isEmpty else { continue }
                let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
                if line.hasPrefix("Rss:") { mappings[mappings.count - 1].residentKiB = kib } else { mappings[mappings.count - 1].copiedKiB += kib }
                continue
            }
            // A mapping's first line: "start-end perms offset device inode path"; field lines start with a name and ':'.
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, let dash = fields[0].firstIndex(of: "-"),
                  let start = Int(fields[0][..<dash], radix: 16),
                  let end = Int(fields[0][fields[0].index(after: dash)...], radix: 16) else { continue }
            let perms = Array(fields[1].utf8)
            let path = fields.count == 6 ? fields[5].drop { $0 == " " } : ""
            let eligible = perms.count == 4 && perms[1] == UInt8(ascii: "-") && perms[3] == UInt8(ascii: "p") && path.hasPrefix("/")
            mappings.append(Mapping(start: start, end: end, eligible: eligible))
        }
        for mapping in mappings where mapping.eligible && mapping.residentKiB > 0 {
            guard mapping.copiedKiB == 0 else {
                released.keptMappings += 1
                continue
            }
            let address = UnsafeMutableRawPointer(bitPattern: mapping.start)
            if madvise(address, mapping.end - mapping.start, MADV_DONTNEED) == 0 {
                released.mappedBytes += mapping.residentKiB * 1024
            }
        }
        malloc_trim(0)
        return released
    }

    /// Nanoseconds on the monotonic clock, for intervals.
    package static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// The wall clock, for log lines.
    package static func wallClock() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }
}
