import Runs
import Glibc

/// A joinable OS thread for blocking work that must stay off Swift's cooperative pool.
package final class NativeThread: Sendable {
    private let handle: pthread_t
    /// Announced once, when the body has returned: tasks await a thread's end without blocking a pool thread in join.
    private let ended: Bell

    package init(name: String, _ body: @escaping () -> Void) throws {
        let ended = Bell()
        self.ended = ended
        handle = try System.startThread(name: name) {
            body()
            ended.ring()
        }
    }

    /// Sends a signal to this thread alone. Safe until `join`, even once the body has returned.
    func signal(_ number: Int32) {
        try? System.signal(handle, number)
    }

    var isFinished: Bool { ended.generation > 0 }

    /// Returns once the body has returned (or the task is cancelled); a `join` after it only waits for the exit.
    func finished() async {
        await ended.wait(since: 0)
    }

    func join() {
        try? System.join(handle)
    }
}
