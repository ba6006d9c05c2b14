import Synchronization

/// The time a `Watchdog` keeps: what time it is, and a way to sleep until a given instant. The process uses the
/// continuous clock; tests use one that moves only when they advance it.
public struct WatchdogClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    /// Returns at `deadline` or later; throws (or returns early) when the sleeping task is cancelled.
    public var sleep: @Sendable (_ deadline: ContinuousClock.Instant) async throws -> Void

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant,
                sleep: @escaping @Sendable (_ deadline: ContinuousClock.Instant) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    public static let continuous = WatchdogClock(
        now: { ContinuousClock.now },
        sleep: { deadline in try await Task.sleep(until: deadline, clock: .continuous) })
}

/// Deadlines for many runs, kept by one task for the whole process: a run that registers a deadline costs an
/// entry here, not a sleeping task of its own (thousands of open streams each hold a run).
public final class Watchdog: Sendable {
    public struct Token: Hashable, Sendable { let id: UInt64 }

    private struct Entry {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var action: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var sleeper: Task<Void, Never>?
        var sleepingUntil: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let clock: WatchdogClock

    public init(clock: WatchdogClock = .continuous) {
        self.clock = clock
    }

    /// Calls `action` once `delay` has passed, unless `cancel(token)` comes first. Actions that fall due together
    /// run in deadline order (then in the order they were scheduled).
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Token {
        let deadline = clock.now() + delay
        return state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(id: state.nextID, deadline: deadline, action: action)
            if state.sleepingUntil.map({ deadline < $0 }) ?? true { rearm(&state) }
            return Token(id: state.nextID)
        }
    }

    public func cancel(_ token: Token) {
        state.withLock { _ = $0.entries.removeValue(forKey: token.id) }
    }

    /// Restarts the sleeper for the earliest deadline. Called with the lock held.
    private func rearm(_ state: inout State) {
        state.sleeper?.cancel()
        guard let next = state.entries.values.map(\.deadline).min() else {
            state.sleeper = nil
            state.sleepingUntil = nil
            return
        }
        state.sleepingUntil = next
        let clock = self.clock
        state.sleeper = Task { [weak self] in
            try? await clock.sleep(next)
            guard !Task.isCancelled else { return }
            self?.fire()
        }
    }

    private func fire() {
        let now = clock.now()
        let due: [Entry] = state.withLock { state in
            let expired = state.entries.values.filter { $0.deadline <= now }
            for entry in expired { state.entries.removeValue(forKey: entry.id) }
            rearm(&state)
            return expired.sorted { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
        }
        for entry in due { entry.action() }
    }
}

/// Lets the watchdog cancel a running task at its deadline, and only while that task is still inside the run:
/// the task handle is used under the same lock that `disarm` takes before the run returns, so it is never used
/// after the run is over.
final class DeadlineGuard: @unchecked Sendable {
    private let lock = Mutex(())
    private var task: UnsafeCurrentTask?
    private var didExpire = false

    func arm(_ task: UnsafeCurrentTask?) {
        lock.withLock { _ in self.task = task }
    }

    func expire() {
        lock.withLock { _ in
            guard let task else { return }
            didExpire = true
            task.cancel()
        }
    }

    func disarm() {
        lock.withLock { _ in task = nil }
    }

    var expired: Bool { lock.withLock { _ in didExpire } }
}
