import Synchronization
import TestSupport
import Testing

// Time that moves only when a test moves it; `waiting` and `Recorder` are TestSupport's.

/// A clock for the built-in model's token delays: each sleep ends only when the test lets it (`allow`), or at once
/// after `open()`. A run on it can neither finish nor fall behind on its own, whatever the machine's load.
final class GateClock: Clock, Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct State {
        var now: Instant
        var permits = 0
        var open: Bool
        /// Waiting sleeps, by arrival: `allow` lets the oldest go first.
        var sleepers: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var next: UInt64 = 0
    }
    private let state: Mutex<State>
    /// Every sleep begun, in order (for a model on this clock: one per token).
    let sleeps = Recorder<Instant>()

    init(open: Bool = false, start: Instant = ContinuousClock.now) {
        state = Mutex(State(now: start, open: open))
    }

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        sleeps.append(deadline)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.open || state.permits > 0 {
                        if !state.open { state.permits -= 1 }
                        state.now = max(state.now, deadline)
                        return .success(())
                    }
                    state.sleepers[id] = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Lets `count` more sleeps end: those waiting, oldest first, then the next ones to begin.
    func allow(_ count: Int = 1) {
        let released = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.permits += count
            let keys = state.sleepers.keys.sorted().prefix(state.permits)
            state.permits -= keys.count
            return keys.compactMap { state.sleepers.removeValue(forKey: $0) }
        }
        for continuation in released { continuation.resume() }
    }

    /// Every sleep, waiting or to come, ends at once from now on.
    func open() {
        let released = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.open = true
            defer { state.sleepers = [:] }
            return state.sleepers.keys.sorted().compactMap { state.sleepers[$0] }
        }
        for continuation in released { continuation.resume() }
    }
}
