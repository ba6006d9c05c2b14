import CLinux
import Glibc

/// A joinable OS thread for blocking work that must stay off Swift's cooperative pool.
final class NativeThread {
    private var handle = pthread_t()

    init(name: String, _ body: @escaping () -> Void) throws {
        let box = Unmanaged.passRetained(Box(name: name, body: body))
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

    /// Sends a signal to this thread alone.
    func signal(_ number: Int32) {
        pthread_kill(handle, number)
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
