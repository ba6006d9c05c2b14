@testable import AgentRuntime
import Synchronization
import TestSupport
import Testing

// Test support for waiting on events instead of sleeping, and for time that moves only when a test moves it.

/// Something that happens once; tasks may wait for it.
final class Signal: Sendable {
    private let events = Recorder<Void>()
    init() {}
    func fire() { events.append(()) }
    var fired: Bool { !events.all.isEmpty }
    func wait() async { await events.wait(count: 1) }
}

/// A clock whose time moves only when the test advances it. Its instants are the continuous clock's, so it can
/// stand in for `ContinuousClock` (an `AgentRunner`'s clock) and for the real time of a `Watchdog`.
final class ManualClock: Clock, Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Instant
        var sleepers: [UInt64: Sleeper] = [:]
        var next: UInt64 = 0
    }
    private let state: Mutex<State>
    /// The deadline of every sleep begun, in order: a test waits here until the code under test is asleep.
    let sleeps = Recorder<Instant>()

    init(start: Instant = ContinuousClock.now) {
        state = Mutex(State(now: start))
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
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time on and wakes every sleeper whose deadline has come, earliest first.
    func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now + duration
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for key in due.keys { state.sleepers.removeValue(forKey: key) }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// This clock as a watchdog's time.
    var watchdogClock: WatchdogClock {
        WatchdogClock(now: { [self] in now }, sleep: { [self] deadline in try await sleep(until: deadline) })
    }
}
