/// Runs `body` until it returns or `deadline` passes, whichever comes first, and cancels the other; true if `body`
/// returned first. `body` must return soon once cancelled, as `Bell`'s waits do. Callers that wait for a condition
/// check the condition itself afterwards: at a deadline already past, the race says nothing.
@discardableResult
package func withDeadline(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            await body()
            return !Task.isCancelled
        }
        group.addTask {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}
