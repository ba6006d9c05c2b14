@testable import AgentRuntime
import Synchronization
import TestSupport
import Testing

/// The watchdog on a manual clock: time moves only when the test advances it, and the test waits for the
/// actions that fire instead of sleeping, so nothing here depends on how fast the machine is.
@Suite struct WatchdogTests {
    @Test func firesDueActionsInDeadlineOrderAndSkipsCancelled() async throws {
        let clock = ManualClock()
        let watchdog = Watchdog(clock: clock.watchdogClock)
        let fired = Recorder<String>()
        _ = watchdog.schedule(after: .milliseconds(300)) { fired.append("late") }
        let cancelled = watchdog.schedule(after: .milliseconds(100)) { fired.append("cancelled") }
        // An earlier deadline than the one the watchdog sleeps for must still fire on time: if the watchdog went
        // on sleeping until 300 ms, nothing would fire at 150 ms and the wait below would fail.
        _ = watchdog.schedule(after: .milliseconds(50)) { fired.append("early") }
        watchdog.cancel(cancelled)
        clock.advance(by: .milliseconds(150))
        #expect(try await fired.first(1) == ["early"])
        // At 150 ms "late" is not due: the clock stands still until the test moves it, so this is exact.
        #expect(fired.all == ["early"])
        clock.advance(by: .milliseconds(200))
        #expect(try await fired.first(2) == ["early", "late"])
        #expect(fired.all == ["early", "late"])
    }

    @Test func actionsDueTogetherRunInDeadlineOrderWithoutTheCancelled() async throws {
        let clock = ManualClock()
        let watchdog = Watchdog(clock: clock.watchdogClock)
        let fired = Recorder<String>()
        _ = watchdog.schedule(after: .milliseconds(300)) { fired.append("late") }
        let cancelled = watchdog.schedule(after: .milliseconds(100)) { fired.append("cancelled") }
        _ = watchdog.schedule(after: .milliseconds(200)) { fired.append("middle") }
        _ = watchdog.schedule(after: .milliseconds(50)) { fired.append("early") }
        watchdog.cancel(cancelled)
        // All four deadlines pass at once, so they fall due together and run one after another in one go: had the
        // cancelled entry survived, it would be second here (deadline order), before "middle".
        clock.advance(by: .seconds(1))
        #expect(try await fired.first(3) == ["early", "middle", "late"])
    }

    @Test func nothingFiresBeforeItsDeadline() async throws {
        let clock = ManualClock()
        let watchdog = Watchdog(clock: clock.watchdogClock)
        let fired = Recorder<String>()
        _ = watchdog.schedule(after: .milliseconds(100)) { fired.append("first") }
        _ = watchdog.schedule(after: .milliseconds(200)) { fired.append("second") }
        // Time reaches the first deadline exactly (due means deadline <= now), then stops short of the second.
        clock.advance(by: .milliseconds(100))
        #expect(try await fired.first(1) == ["first"])
        clock.advance(by: .milliseconds(99))
        // The watchdog is asleep again for the second deadline (200 ms), which has not come.
        let second = clock.now + .milliseconds(1)
        try await waiting(for: "the watchdog asleep until the second deadline") {
            await clock.sleeps.wait { $0.contains(second) }
        }
        #expect(fired.all == ["first"])
        clock.advance(by: .milliseconds(1))
        #expect(try await fired.first(2) == ["first", "second"])
    }

    /// The default, real clock: an action fires, and not before its delay has passed (a lower bound, which no
    /// amount of load can break).
    @Test func theContinuousClockFiresAfterTheDelay() async throws {
        let watchdog = Watchdog()
        let fired = Recorder<ContinuousClock.Instant>()
        let scheduled = ContinuousClock.now
        _ = watchdog.schedule(after: .milliseconds(20)) { fired.append(ContinuousClock.now) }
        let at = try #require(try await fired.first(1).first)
        #expect(at - scheduled >= .milliseconds(20))
    }
}
