import AgentRuntime
import Handlers
import Synchronization

/// A request answered in the async world. Handlers write into its queue from any task; only the I/O loop
/// thread moves bytes from the queue to the socket, and only when the socket can take them, so a client that
/// stops reading holds no thread and delays nobody else.
final class Connection: ResponseBodyWriter, @unchecked Sendable {
    /// Bytes queued above this make `write` wait for the client (back-pressure).
    static let highWater = 64 * 1024
    /// Waiting writers resume when the queue is back under this.
    static let lowWater = 16 * 1024
    /// The least a flush moves, however small the send buffer, so a stream always progresses.
    static let minimumFlush = 4 * 1024

    let id: UInt64
    let request: FCGIRequest
    let fd: Int32
    let isHead: Bool
    /// SO_SNDBUF, read once: the kernel charges each write's bytes plus its own overhead against it.
    private let sendBuffer: Int
    private unowned let loop: IOLoop
    private let shared = Mutex(Shared())

    struct Shared {
        var state = ResponseState()
        var queue = OutboundQueue()
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var task: Task<Void, Never>?
        var heartbeat: Heartbeat?
        var lastActivity: UInt64 = System.monotonicNanoseconds()
        var dirty = false
    }

    init(id: UInt64, request: FCGIRequest, loop: IOLoop, isHead: Bool) {
        self.id = id
        self.request = request
        self.fd = request.fd
        self.sendBuffer = request.sendBufferSize
        self.loop = loop
        self.isHead = isHead
    }

    // MARK: The handler's side

    /// The request's task, once made. It may already have handed its stream's body to another task (`handOver`),
    /// which then stays the one to cancel.
    func attach(_ task: Task<Void, Never>) {
        let aborted = shared.withLock { shared in
            if shared.task == nil { shared.task = task }
            return shared.state.phase == .aborted
        }
        if aborted { task.cancel() }
    }

    /// The task that sends the stream's body from now on.
    func handOver(to task: Task<Void, Never>) {
        let aborted = shared.withLock { shared in
            shared.task = task
            return shared.state.phase == .aborted
        }
        if aborted { task.cancel() }
    }

    /// What is left of a response once its head is serialized: an open stream keeps its body's writer and nothing of
    /// the request or the response's fields.
    enum Prepared {
        case whole([UInt8])
        case stream(head: [UInt8], heartbeat: Heartbeat?, body: @Sendable (any ResponseBodyWriter) async throws -> Void)
    }

    /// Runs the handler's work and serializes the head. The work, the request it holds and the response are let go
    /// when this returns (about 2 KiB of each open stream).
    static func prepare(_ pending: PendingWork, isHead: Bool) async -> Prepared {
        guard let work = pending.take() else { return .whole([]) }
        let response = await work()
        switch response.body {
        case .bytes(let body):
            var bytes = ResponseHead.serialize(response, contentLength: body.count)
            if !isHead { bytes += body }
            return .whole(bytes)
        case .stream(let heartbeat, let body):
            return .stream(head: ResponseHead.serialize(response, contentLength: nil), heartbeat: heartbeat, body: body)
        }
    }

    /// Sends a whole response: head and body.
    func send(_ prepared: Prepared) async {
        switch prepared {
        case .whole(let bytes):
            let accepted = shared.withLock { shared in
                guard shared.state.sendHead() else { return false }
                shared.queue.append(bytes)
                _ = shared.state.requestFinish()
                return true
            }
            if accepted { loop.markDirty(self) }
        case .stream(let head, let heartbeat, let body):
            let accepted = shared.withLock { shared in
                guard shared.state.sendHead() else { return false }
                shared.queue.append(head)
                shared.heartbeat = heartbeat
                shared.lastActivity = System.monotonicNanoseconds()
                return true
            }
            guard accepted else { return }
            loop.markDirty(self)
            if !isHead {
                await TaskStack.reserve()
                // Errors after the head cannot change the status; the handler reports them in-band.
                try? await body(self)
            }
            let finishing = shared.withLock { $0.state.requestFinish() }
            if finishing { loop.markDirty(self) }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        enum Next { case proceed, wait, gone }
        let next: Next = shared.withLock { shared in
            guard shared.state.acceptsBody else { return .gone }
            shared.queue.append(bytes)
            shared.lastActivity = System.monotonicNanoseconds()
            return shared.queue.count > Self.highWater ? .wait : .proceed
        }
        switch next {
        case .gone: throw ClientDisconnected()
        case .proceed: loop.markDirty(self)
        case .wait:
            loop.markDirty(self)
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = shared.withLock { shared in
                    if shared.state.phase == .aborted { return .failure(ClientDisconnected()) }
                    if shared.queue.count <= Self.lowWater { return .success(()) }
                    shared.waiters.append(continuation)
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        }
    }

    // MARK: The I/O loop's side (one thread)

    /// Marks the connection as queued for the loop; false if it already was.
    func claimDirty() -> Bool {
        shared.withLock { shared in
            if shared.dirty { return false }
            shared.dirty = true
            return true
        }
    }

    enum FlushOutcome { case idle, blocked, completed, failed }

    /// Moves up to `budget` queued bytes to the socket, in one write of as few records as they fit (the end records
    /// with them when they are the last). The caller has checked that the socket is writable (a unix socket has
    /// three quarters of its send buffer free then, a TCP socket a third) and `budget` keeps the write within a
    /// quarter of that buffer, so the blocking write does not block: a blocked write would hold the I/O loop, and
    /// every stream of the worker with it, until SO_SNDTIMEO fails the connection. (TCP's buffer only grows from the
    /// size read at accept.)
    func flush(budget: Int) -> FlushOutcome {
        let budget = min(budget, max(Self.minimumFlush, sendBuffer / 4))
        let (slices, more, last) = shared.withLock { shared -> ([ArraySlice<UInt8>], Bool, Bool) in
            shared.dirty = false
            let slices = shared.queue.peek(limit: budget)
            let more = shared.queue.count > budget
            // A finishing response takes no more bytes: when the rest fits, it ends with this write.
            return (slices, more, !more && shared.state.phase == .finishing)
        }
        var written = 0
        for slice in slices { written += slice.count }
        guard request.send(slices, end: last) else { return .failed }
        var resumed: [CheckedContinuation<Void, any Error>] = []
        let outcome: FlushOutcome = shared.withLock { shared in
            if written > 0 { shared.queue.consume(written) }
            if shared.queue.count <= Self.lowWater, !shared.waiters.isEmpty {
                resumed = shared.waiters
                shared.waiters = []
            }
            if more || !shared.queue.isEmpty { return .blocked }
            return shared.state.drained() ? .completed : .idle
        }
        for waiter in resumed { waiter.resume() }
        return outcome
    }

    /// Queues the heartbeat bytes if the stream has been silent for its interval.
    func heartbeatIfDue(now: UInt64) -> Bool {
        shared.withLock { shared in
            guard shared.state.phase == .streaming, let heartbeat = shared.heartbeat else { return false }
            guard now &- shared.lastActivity >= heartbeat.interval.nanoseconds else { return false }
            shared.queue.append(heartbeat.bytes)
            shared.lastActivity = now
            return true
        }
    }

    /// The client left or a write failed: wake writers with an error and cancel the handler's task.
    func abort() {
        var waiters: [CheckedContinuation<Void, any Error>] = []
        let task: Task<Void, Never>? = shared.withLock { shared in
            guard shared.state.abort() else { return nil }
            waiters = shared.waiters
            shared.waiters = []
            shared.queue = OutboundQueue()
            return shared.task
        }
        for waiter in waiters { waiter.resume(throwing: ClientDisconnected()) }
        task?.cancel()
    }

    /// Cancels the handler's task without closing the connection (drain bound reached).
    func cancelTask() {
        shared.withLock { $0.task }?.cancel()
    }
}

/// A request's handler work, held until it runs once: then nothing keeps the closure, or the request it captured.
final class PendingWork: Sendable {
    private let work: Mutex<(@Sendable () async -> Response)?>

    init(_ work: @escaping @Sendable () async -> Response) { self.work = Mutex(work) }

    func take() -> (@Sendable () async -> Response)? {
        work.withLock { work in
            defer { work = nil }
            return work
        }
    }
}

/// Room on the task's allocator for a stream body's calls, made once, before them. A task allocates its calls' async
/// frames in slabs of about 1 KiB, or of the frame's size when that is larger, and keeps every slab until it ends. The
/// dozen frames (100 bytes to 1.6 KiB each) a stream's body holds while its model streams leave part of most slabs
/// empty: 12.2 KiB of slabs an open `/runs/stream` (heaptrack, bench/README.md). One 8 KiB frame made and released
/// first leaves one 8 KiB slab, in which the chain's frames then lie one after the other: 10.4 KiB. (7 KiB was worse:
/// the chain spilled into more slabs.) Only memory depends on it: with another runtime the frames go where they would.
enum TaskStack {
    /// Not optimized: the optimizer would see that `room` need not outlive the call, and leave it out of the frame
    /// (`bench/async_frames.py BINARY TaskStack` shows the frame's size).
    @inline(never) @_optimize(none)
    static func reserve() async {
        var room = InlineArray<1024, UInt64>(repeating: 0)
        await nothing()
        room[0] = 1
    }

    @inline(never)
    private static func nothing() async {}
}
