import Foundation
import Store
import Synchronization
import AgentRuntime

/// A run executing in this process.
public final class LocalRun: Sendable {
    public let id: String
    /// Taken from the queue rather than started by a waiting request.
    let background: Bool
    /// In the store (its lease is renewed); a stateless run is not.
    let stored: Bool
    private struct State {
        var stop: (@Sendable () -> Void)?
        var action: CancelAction?
        var reason: String?
        var cancelled = false
    }
    private let state = Mutex(State())
    private let completion = Completion<RunOutcome>()

    init(id: String, background: Bool = false, stored: Bool = true) {
        self.id = id
        self.background = background
        self.stored = stored
    }

    func start(_ task: Task<Void, Never>) {
        start { task.cancel() }
    }

    /// `stop` cancels the task the run executes in.
    func start(_ stop: @escaping @Sendable () -> Void) {
        let cancelNow = state.withLock { state in
            state.stop = stop
            return state.cancelled
        }
        if cancelNow { stop() }
    }

    /// The first cancellation wins; later ones do not change the action.
    public func cancel(_ action: CancelAction, reason: String = "cancelled") {
        let stop = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.cancelled else { return nil }
            state.cancelled = true
            state.action = action
            state.reason = reason
            return state.stop
        }
        stop?()
    }

    var cancellation: (action: CancelAction, reason: String)? {
        state.withLock { state in state.action.map { ($0, state.reason ?? "cancelled") } }
    }

    func finish(_ outcome: RunOutcome) { completion.resolve(outcome) }

    /// Waits for the run's end; nil when the waiting task is cancelled first.
    public func outcome() async -> RunOutcome? { await completion.value() }
}

/// Whoever a run's events were going to has gone (a client that closed its stream).
public struct ClientDisconnected: Error, Sendable {
    public init() {}
}

/// How a run of this process ended, for the request that waits on it.
public struct RunOutcome: Sendable {
    public var status: RunStatus
    public var error: RunProblem?
    /// The conversation after the run (input and what the run added) and its usage, when it finished.
    public var result: RunResult?
}

/// A value set once, awaited by any number of tasks, each of which may give up (cancellation) on its own.
final class Completion<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    func resolve(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func value() async -> Value? {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> (Bool, Value?) in
                    if let value = state.value { return (true, value) }
                    if Task.isCancelled { return (true, nil) }
                    state.waiters[id] = continuation
                    return (false, nil)
                }
                if ready.0 { continuation.resume(returning: ready.1) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }
}

/// Wakes tasks waiting for something that a task or a native thread announces: a run's log growing in this process
/// (appends by other processes are found by polling, so those waits have a timeout), the transport's I/O loop running
/// out of requests, a thread ending. A waiter reads `generation`, checks what it waits for, then waits for a later
/// generation: a ring between the check and the wait is not lost.
public final class Bell: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Callable from any thread; never blocks beyond the lock.
    public func ring() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once rung after `generation`, after `timeout` (when given, with the watchdog that times it), or when
    /// the task is cancelled.
    public func wait(since generation: UInt64, timeout: Duration? = nil, watchdog: Watchdog? = nil) async {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = state.withLock { state in
                    guard state.generation == generation, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                guard waiting else { return continuation.resume() }
                if let timeout, let watchdog {
                    let token = watchdog.schedule(after: timeout) { [weak self] in self?.wake(id) }
                    _ = token
                }
            }
        } onCancel: {
            wake(id)
        }
    }

    /// Returns once `condition` holds, checked now and after each ring, or when the task is cancelled. Whatever makes
    /// it true must ring after the change.
    public func wait(until condition: () -> Bool) async {
        while !Task.isCancelled {
            let generation = self.generation
            if condition() { return }
            await wait(since: generation)
        }
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
