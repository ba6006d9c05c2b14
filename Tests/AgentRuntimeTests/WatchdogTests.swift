@testable import AgentRuntime
import Synchronization
import Testing

@Suite struct WatchdogTests {
    final class Fired: Sendable {
        let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    @Test func firesDueActionsInDeadlineOrderAndSkipsCancelled() async throws {
        let watchdog = Watchdog()
        let fired = Fired()
        _ = watchdog.schedule(after: .milliseconds(300)) { fired.add("late") }
        let cancelled = watchdog.schedule(after: .milliseconds(100)) { fired.add("cancelled") }
        // An earlier deadline than the one the watchdog sleeps for must still fire on time.
        _ = watchdog.schedule(after: .milliseconds(50)) { fired.add("early") }
        watchdog.cancel(cancelled)
        try await Task.sleep(for: .milliseconds(150))
        #expect(fired.all == ["early"])
        try await Task.sleep(for: .milliseconds(350))
        #expect(fired.all == ["early", "late"])
    }
}
