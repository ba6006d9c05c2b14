/// The life of one response, as a plain value so its rules can be tested alone.
///
/// An error before the head is written can still become a proper status; after it, only an in-band
/// event can report it. `aborted` is final: the client left or a write failed.
struct ResponseState: Equatable {
    enum Phase: Equatable {
        case headPending
        case streaming
        /// The handler is done; queued bytes are still going out.
        case finishing
        case done
        case aborted
    }

    private(set) var phase: Phase = .headPending

    var acceptsBody: Bool { phase == .headPending || phase == .streaming }
    var isOver: Bool { phase == .done || phase == .aborted }

    /// Returns false when the head can no longer be sent.
    mutating func sendHead() -> Bool {
        guard phase == .headPending else { return false }
        phase = .streaming
        return true
    }

    mutating func requestFinish() -> Bool {
        guard phase == .streaming else { return false }
        phase = .finishing
        return true
    }

    /// The last queued byte went out after `requestFinish`.
    mutating func drained() -> Bool {
        guard phase == .finishing else { return false }
        phase = .done
        return true
    }

    /// Returns false when the response had already ended.
    mutating func abort() -> Bool {
        guard !isOver else { return false }
        phase = .aborted
        return true
    }
}
