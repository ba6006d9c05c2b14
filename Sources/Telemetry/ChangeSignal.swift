import Synchronization

/// Tells one waiter that something changed since it last looked, so that it can sleep while nothing does: the
/// metrics publisher rewrites this worker's file only after a series changed (or to show it is alive), instead of
/// every second. `mark()` is called on every recording, so it costs one atomic exchange unless someone waits.
public final class ChangeSignal: Sendable {
    private let changed = Atomic<Bool>(false)
    private let waiter = Mutex<CheckedContinuation<Void, Never>?>(nil)

    public init() {}

    /// Callable from any thread; resumes the waiter only on the first change after it began to wait.
    public func mark() {
        guard !changed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
    }

    /// Returns once something changed since the previous wait returned (at once if it already has), after
    /// `timeout`, or when the task is cancelled. One waiter at a time.
    public func wait(timeout: Duration) async {
        defer { changed.store(false, ordering: .releasing) }
        if changed.load(ordering: .acquiring) { return }
        let timer = Task { [weak self] in
            do {
                try await Task.sleep(for: timeout)
                self?.wake()
            } catch {}
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock that `mark` takes to wake: a change either shows here or finds the waiter.
                let now = waiter.withLock { waiter -> Bool in
                    if changed.load(ordering: .acquiring) || Task.isCancelled { return true }
                    waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            wake()
        }
    }

    private func wake() {
        waiter.withLock { waiter in
            defer { waiter = nil }
            return waiter
        }?.resume()
    }
}
