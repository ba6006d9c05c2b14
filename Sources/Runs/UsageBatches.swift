import Synchronization

/// Finished runs' tokens, added to their keys' daily counts by group commit. One write at a time: the run that finds
/// none under way writes what is queued (its own count and any made meanwhile, summed per key and day, one
/// `addUsage` each), then hands the turn to a run that queued during its write. Every run returns once the write that
/// holds its count is done, with that write's error if it failed, as when each run wrote its own: nothing is counted
/// later than before and nothing is dropped. Under load one write carries many runs; SQLite's single writer took one
/// transaction per authenticated stateless run before.
final class UsageBatches: Sendable {
    typealias Write = @Sendable (_ key: String, _ day: String, _ tokens: Int, _ runs: Int) async throws -> Void

    private struct Slot: Hashable {
        let key: String
        let day: String
    }
    private enum Turn {
        case written((any Error)?)
        case lead
    }
    private struct Entry {
        let slot: Slot
        let tokens: Int
        /// Nil for the entry of the run that writes it.
        var waiter: CheckedContinuation<Turn, Never>?
    }
    private struct State {
        var queue: [Entry] = []
        var writing = false
    }
    private let state = Mutex(State())
    private let write: Write

    init(write: @escaping Write) {
        self.write = write
    }

    func add(key: String, day: String, tokens: Int) async throws {
        let slot = Slot(key: key, day: day)
        let leads = state.withLock { state in
            guard !state.writing else { return false }
            state.writing = true
            state.queue.append(Entry(slot: slot, tokens: tokens))
            return true
        }
        if !leads {
            let turn = await withCheckedContinuation { (waiter: CheckedContinuation<Turn, Never>) in
                // The write under way may have ended since: then this run writes.
                let leadsNow = state.withLock { state in
                    guard !state.writing else {
                        state.queue.append(Entry(slot: slot, tokens: tokens, waiter: waiter))
                        return false
                    }
                    state.writing = true
                    state.queue.append(Entry(slot: slot, tokens: tokens))
                    return true
                }
                if leadsNow { waiter.resume(returning: .lead) }
            }
            if case .written(let error) = turn {
                if let error { throw error }
                return
            }
        }
        // This run's entry is queued, without a waiter: the batch taken now holds it.
        let batch = state.withLock { state in
            defer { state.queue = [] }
            return state.queue
        }
        var order: [Slot] = []
        var sums: [Slot: (tokens: Int, runs: Int)] = [:]
        for entry in batch {
            if sums[entry.slot] == nil {
                order.append(entry.slot)
                sums[entry.slot] = (0, 0)
            }
            // Saturating: absurd counts from a model server are the store's to refuse, not a reason to trap.
            let (tokens, overflow) = sums[entry.slot]!.tokens.addingReportingOverflow(entry.tokens)
            sums[entry.slot]!.tokens = overflow ? (entry.tokens > 0 ? Int.max : Int.min) : tokens
            sums[entry.slot]!.runs += 1
        }
        // In a task of its own: the writer's run may be cancelled (its client left), and the store would then refuse
        // the writes of every run in the batch.
        let failures = await Task { [write, order, sums] in
            var failures: [Slot: any Error] = [:]
            for slot in order {
                do {
                    try await write(slot.key, slot.day, sums[slot]!.tokens, sums[slot]!.runs)
                } catch {
                    failures[slot] = error
                }
            }
            return failures
        }.value
        for entry in batch { entry.waiter?.resume(returning: .written(failures[entry.slot])) }
        let next = state.withLock { state -> CheckedContinuation<Turn, Never>? in
            // Only the writer's own entry has no waiter, and it was in the batch: what is queued now waits.
            guard !state.queue.isEmpty else {
                state.writing = false
                return nil
            }
            let waiter = state.queue[0].waiter
            state.queue[0].waiter = nil
            return waiter
        }
        next?.resume(returning: .lead)
        if let failure = failures[slot] { throw failure }
    }
}
