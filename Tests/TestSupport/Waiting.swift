import Synchronization
import Testing

// Waiting on events instead of sleeping, for every test target.

/// Runs `body` until it returns; if it has not returned after `limit`, records an issue naming `what`, cancels it
/// and throws, without waiting further for it (it may wait on something that ignores cancellation). The limit
/// only matters when the test fails: a passing test never gets near it, however busy the machine is, so it is
/// generous.
public func waiting<T: Sendable>(
    for what: String, within limit: Duration = .seconds(20),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let first = FirstOf<Result<T, any Error>>()
    let work = Task {
        do { first.offer(.success(try await body())) } catch { first.offer(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        first.offer(nil)
    }
    let outcome = await first.value()
    timer.cancel()
    guard let outcome else {
        work.cancel()
        Issue.record("\(what): not within \(limit)", sourceLocation: sourceLocation)
        throw TimedOut()
    }
    return try outcome.get()
}

/// Waits for `condition` by looking again every 20 ms, within `waiting`'s limit (a state another task or process
/// reaches in its own time: a cron firing, a child process gone).
public func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                       _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    try await waiting(for: what, sourceLocation: sourceLocation) {
        while try await !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}

/// The first value offered (nil: a timeout); later offers are ignored.
private final class FirstOf<Value: Sendable>: Sendable {
    private struct State {
        var value: Value??
        var waiter: CheckedContinuation<Value?, Never>?
    }
    private let state = Mutex(State())

    func offer(_ value: Value?) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            guard state.value == nil else { return nil }
            state.value = .some(value)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// Waits for the first offer; one caller only.
    func value() async -> Value? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value?? in
                if let value = state.value { return .some(value) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

public struct TimedOut: Error {}

/// What happened, in order, for a test to read and to wait on. Waits end when the task is cancelled.
public final class Recorder<Element: Sendable>: Sendable {
    public typealias Condition = @Sendable ([Element]) -> Bool
    private struct State {
        var items: [Element] = []
        var waiters: [UInt64: (condition: Condition, continuation: CheckedContinuation<Void, Never>)] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func append(_ item: Element) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.items.append(item)
            let items = state.items
            let ready = state.waiters.filter { $0.value.condition(items) }
            for key in ready.keys { state.waiters.removeValue(forKey: key) }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
    }

    public var all: [Element] { state.withLock { $0.items } }

    /// Returns once `condition` holds for what was appended (or the task is cancelled).
    public func wait(until condition: @escaping Condition) async {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = state.withLock { state in
                    guard !condition(state.items), !Task.isCancelled else { return false }
                    state.waiters[id] = (condition, continuation)
                    return true
                }
                if !waiting { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Returns once at least `count` items were appended (or the task is cancelled).
    public func wait(count: Int) async {
        await wait { $0.count >= count }
    }

    /// The first `count` items, once there are that many; an issue if they do not come within `limit`.
    public func first(_ count: Int, within limit: Duration = .seconds(20),
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Element] {
        try await waiting(for: "\(count) event(s)", within: limit, sourceLocation: sourceLocation) { [self] in
            await wait(count: count)
            return Array(all.prefix(count))
        }
    }
}

