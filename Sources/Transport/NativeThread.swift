import Runs
import CLinux
import Glibc

/// A joinable OS thread for blocking work that must stay off Swift's cooperative pool.
package final class NativeThread: @unchecked Sendable {
    private var handle = pthread_t()
    /// Announced once, when the body has returned: tasks await a thread's end without blocking a pool thread in join.
    private let ended = Bell()

    package init(name: String, _ body: @escaping () -> Void) throws {
        let ended = self.ended
        let box = Unmanaged.passRetained(Box(name: name) {
            body()
            ended.ring()
        })
        let result = pthread_create(&handle, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            agentfcgi_name_thread(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw TransportError.system("pthread_create", result)
        }
    }

    /// Sends a signal to this thread alone. Safe until `join`, even once the body has returned.
    func signal(_ number: Int32) {
        pthread_kill(handle, number)
    }

    var isFinished: Bool { ended.generation > 0 }

    /// Returns once the body has returned (or the task is cancelled); a `join` after it only waits for the exit.
    func finished() async {
        await ended.wait(since: 0)
    }

    func join() {
        pthread_join(handle, nil)
    }

    private final class Box {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
