import Synchronization

/// Something a native thread announces and tasks await: the I/O loop running out of requests, a thread ending, an
/// acceptor taking a connection while the worker drains. Threads that block in C cannot await, and tasks must not
/// block: this is where the two meet, without either polling the other.
///
/// A task reads `generation`, checks what it waits for, then waits for a later generation: an announcement made
/// between the check and the wait is not lost.
final class Beacon: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    /// How many times it was announced.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Callable from any thread; never blocks beyond the lock.
    func announce() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once announced after `generation`, or when the task is cancelled.
    func wait(since generation: UInt64) async {
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
                if !waiting { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Returns once `condition` holds, checked now and after each announcement, or when the task is cancelled.
    /// Whatever makes it true must announce after the change.
    func wait(until condition: () -> Bool) async {
        while !Task.isCancelled {
            let generation = self.generation
            if condition() { return }
            await wait(since: generation)
        }
    }
}

/// Runs `body` until it returns or `deadline` passes, whichever comes first, and cancels the other; true if `body`
/// returned first. `body` must return soon once cancelled, as `Beacon`'s waits do. Callers that wait for a condition
/// check the condition itself afterwards: at a deadline already past, the race says nothing.
@discardableResult
func withDeadline(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            await body()
            return !Task.isCancelled
        }
        group.addTask {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}
