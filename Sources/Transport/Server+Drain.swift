import AgentRuntime
import Logging
import ServiceLifecycle

/// The transport as a service: `run` starts the threads and, when the group's graceful shutdown reaches it (the
/// transport is the first service stopped), climbs the stop ladder. Each step waits for the event it needs (a
/// connection accepted, a thread ended, the last request done) within its bound, never for a polling timer.
extension Server: Service {
    package func run() async throws {
        try start()
        // Cancelled (another service failed): the threads stop all the same, with no time for requests.
        let graceful = (try? await gracefulShutdown()) != nil
        let deadline = graceful ? drain.begin() : ContinuousClock.now
        logger.info("server.shutdown", metadata: [
            "graceful": "\(graceful)", "drain_timeout_ms": "\((deadline - ContinuousClock.now).wholeMilliseconds)",
        ])
        // In a task the group's cancellation does not reach: the ladder's bounds are sleeps, which a cancelled task
        // would cut short.
        await Task { await self.drainAndStop(deadline: deadline) }.value
    }

    /// Stops intake, lets in-flight requests finish until `deadline`, then cancels what is left and stops the threads.
    func drainAndStop(deadline: ContinuousClock.Instant) async {
        let started = ContinuousClock.now
        hooks.stopIntake()
        lifecycle.beginDraining()
        // A socket this worker made: no new connection can reach it once its file is gone; the acceptors take what
        // is queued before they stop.
        if listener.createdPath != nil {
            draining.store(true, ordering: .relaxed)
            listener.removeFile()
            await takeQueuedConnections(until: started + .seconds(1))
        }
        await stopAcceptors()
        listener.close()
        logger.info("server.draining", metadata: ["in_flight": "\(loop.activeCount.load(ordering: .relaxed))"])
        if await !idle(by: deadline) {
            logger.warning("server.drain_timeout", metadata: ["cancelled": "\(loop.activeCount.load(ordering: .relaxed))"])
            hooks.onTimeout()
            // Cancelled runs still get a moment to write a closing event, which their streams deliver.
            if await !idle(by: ContinuousClock.now + .milliseconds(200)) {
                loop.send(.cancelAll)
                await idle(by: ContinuousClock.now + .seconds(2))
            }
        }
        loop.send(.stop)
        await loopThread?.finished()
        loopThread?.join()
        logger.info("server.stopped", metadata: ["drain_ms": "\((ContinuousClock.now - started).wholeMilliseconds)"])
    }

    /// Whether no request is in flight by `deadline`; returns as soon as none is.
    @discardableResult
    private func idle(by deadline: ContinuousClock.Instant) async -> Bool {
        let loop = self.loop
        if loop.isIdle { return true }
        await withDeadline(deadline) { await loop.whenIdle() }
        return loop.isIdle
    }

    /// Leaves the acceptors to take the connections queued before the socket's file went, until the queue has been
    /// empty for a few milliseconds (a connect() that raced the unlink may still land) or `limit` passes. Woken by
    /// each accept; the only timer is that quiet spell.
    private func takeQueuedConnections(until limit: ContinuousClock.Instant) async {
        let quiet = Duration.milliseconds(5)
        let accepted = self.accepted
        while ContinuousClock.now < limit {
            let generation = accepted.generation
            let end = listener.hasQueuedConnection ? limit : min(ContinuousClock.now + quiet, limit)
            let taken = await withDeadline(end) { await accepted.wait(since: generation) }
            if !taken, !listener.hasQueuedConnection { return }
        }
    }

    /// Raises the stop flag and wakes the acceptors blocked in accept() with a signal aimed at each
    /// (`FCGI_FAIL_ACCEPT_ON_INTR`); those answering a request see the flag when they are done. An acceptor checks the
    /// flag and then calls accept(): a signal that lands between the two is lost, and that thread blocks until
    /// signalled again, which no event can tell. So threads still in accept() after a pause get the signal again; the
    /// pause doubles from 1 ms, as most wake at the first signal and a miss is rare.
    private func stopAcceptors() async {
        stop.raise()
        var pause = Duration.milliseconds(1)
        while true {
            let running = acceptors.filter { !$0.thread.isFinished }
            if running.isEmpty { break }
            for acceptor in running where acceptor.state.inAccept.load(ordering: .sequentiallyConsistent) {
                acceptor.thread.signal(FastCGI.wakeSignal)
            }
            let threads = running.map(\.thread)
            await withDeadline(ContinuousClock.now + pause) {
                for thread in threads { await thread.finished() }
            }
            pause = min(pause * 2, .milliseconds(100))
        }
        for acceptor in acceptors { acceptor.thread.join() }
    }
}
