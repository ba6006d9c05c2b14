import Synchronization

/// The process's one drain bound (`--drain-timeout`), counted from the moment the first service begins to drain (the
/// transport, at the signal): the requests in flight and the runs that outlive them share it.
package final class DrainBound: Sendable {
    package let duration: Duration
    private let deadline = Mutex<ContinuousClock.Instant?>(nil)

    package init(_ duration: Duration) { self.duration = duration }

    /// The deadline, fixed by the first call.
    package func begin() -> ContinuousClock.Instant {
        deadline.withLock { deadline in
            if let deadline { return deadline }
            let end = ContinuousClock.now + duration
            deadline = end
            return end
        }
    }
}
