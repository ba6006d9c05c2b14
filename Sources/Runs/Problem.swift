import AgentRuntime
import Foundation
import Store

/// A failure as every dialect reports it: one value (status, code, message, field, retryable) that each dialect
/// renders in its own shape (problem+json, OpenAI's error object, a JSON-RPC error, an SSE `error` event).
/// The models are Hummingbird's `HTTPResponseError` and Vapor's `AbortError`; `status` is HTTP's because every
/// dialect maps onto it.
public struct RunProblem: Error, Sendable, Equatable {
    public var status: Int
    /// Stable, machine-readable, snake_case: clients branch on it.
    public var code: String
    public var message: String
    /// The JSON path of the offending input field, when there is one.
    public var field: String?
    /// false: retrying the same request cannot succeed; nil: no advice.
    public var retryable: Bool?
    /// Seconds to wait before retrying, when known.
    public var retryAfter: Int?

    public init(status: Int, code: String, message: String, field: String? = nil, retryable: Bool? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retryable = retryable
        self.retryAfter = retryAfter
    }

    public static func invalid(field: String, _ reason: String) -> RunProblem {
        RunProblem(status: 422, code: "validation_error", message: field.isEmpty ? reason : "\(field): \(reason)", field: field)
    }

    static let interrupted = RunProblem(status: 409, code: "run_interrupted", message: "The run was interrupted before it finished.")

    /// For a request waiting on a run that the store failed under: the run is not over, it goes back to the queue.
    static let handedBack = RunProblem(status: 503, code: "store_busy",
                                       message: "The database went out of reach during the run; the run goes back to the queue and runs again. Follow it at its Content-Location.",
                                       retryAfter: 1)
}

/// A domain error that knows its problem. Every conformance is in this file, so that what a client sees for each
/// failure is read in one place.
public protocol RunProblemConvertible: Error {
    var problem: RunProblem { get }
}

extension RunProblem: RunProblemConvertible {
    public var problem: RunProblem { self }

    /// How a run's own failure reads in its stream or record: the run's errors (limits, the model server) and
    /// problems; anything else is unexpected (nil: an internal error whose cause only the log may see).
    public static func ofRun(_ error: any Error) -> RunProblem? {
        switch error {
        case let error as RunProblem: error
        case let error as RunFailure: error.problem
        case let error as UpstreamError: error.problem
        // The store's own trouble (a stateless run's memory tool, say) says what it is rather than "internal".
        case let error as StoreError where error == .busy || error == .full: error.problem
        default: nil
        }
    }
}

extension StoreError: RunProblemConvertible {
    public var problem: RunProblem {
        switch self {
        case .threadExists(let id):
            RunProblem(status: 409, code: "thread_exists", message: "A thread with id '\(Tenancy.publicID(id).prefix(100))' exists (if_exists: raise).",
                       field: "thread_id", retryable: false)
        case .threadNotFound(let id):
            RunProblem.threadNotFound(id)
        case .runNotFound(let id):
            RunProblem(status: 404, code: "run_not_found", message: "No run with id '\(id.prefix(100))'.")
        case .threadBusy(let threadID, let runID):
            RunProblem(status: 409, code: "thread_busy",
                       message: "Thread '\(Tenancy.publicID(threadID).prefix(100))' is running run '\(runID)'; wait for it, or send multitask_strategy enqueue, interrupt or rollback.",
                       field: "multitask_strategy", retryable: false)
        case .approvalPending(let threadID, let approvalID):
            RunProblem(status: 409, code: "approval_pending",
                       message: "Thread '\(Tenancy.publicID(threadID).prefix(100))' waits for a decision on the tool calls of run '\(approvalID)'; answer it with command.resume (its interrupts are in the thread's state).",
                       field: "command", retryable: false)
        case .approvalNotPending(let threadID):
            RunProblem(status: 409, code: "nothing_to_resume",
                       message: "Thread '\(Tenancy.publicID(threadID).prefix(100))' waits for no decision (answered already, or never asked); send input instead.",
                       field: "command", retryable: false)
        case .runActive(let id):
            RunProblem(status: 409, code: "run_active", message: "Run '\(id)' is still pending or running; cancel it first.", retryable: false)
        case .eventConflict(let runID, _):
            RunProblem(status: 409, code: "run_conflict", message: "Run '\(runID)' is being written by another worker.")
        case .threadValuesTooLarge(let id, let limit):
            RunProblem(status: 413, code: "thread_state_too_large",
                       message: "Thread '\(Tenancy.publicID(id).prefix(100))' would hold more than \(limit / 1024) KiB of state beside its messages; send less.",
                       field: "input", retryable: false)
        case .threadFull(let id, let limit):
            RunProblem(status: 409, code: "thread_full",
                       message: "Thread '\(Tenancy.publicID(id).prefix(100))' holds its \(limit) messages; start a new one.", retryable: false)
        case .assistantExists(let id):
            RunProblem(status: 409, code: "assistant_exists", message: "An assistant with id '\(id.prefix(100))' exists (if_exists: raise).",
                       field: "assistant_id", retryable: false)
        case .assistantLimit(let limit):
            RunProblem(status: 409, code: "assistant_limit", message: "This tenant has its \(limit) assistants; delete one first.",
                       retryable: false)
        case .cronLimit(let limit):
            RunProblem(status: 409, code: "cron_limit", message: "This tenant has its \(limit) crons; delete one first.", retryable: false)
        case .pendingRunsExceeded(let limit):
            RunProblem(status: 429, code: "pending_runs_exceeded",
                       message: "This API key already has \(limit) runs waiting in the queue (the server's --max-pending-runs); wait for some to start.",
                       retryAfter: 5)
        case .busy:
            // SQLite's lock held by another process, or PostgreSQL out of reach (restarting, unreachable).
            RunProblem(status: 503, code: "store_busy", message: "The database is busy or out of reach; nothing was changed. Try again in a moment.",
                       retryAfter: 1)
        case .full:
            // 507 rather than 503: not a moment's load that a retry outlasts, but the operator's to fix (docs/security.md).
            RunProblem(status: 507, code: "store_full", message: "The server's storage is full; nothing was changed. Try again later.",
                       retryAfter: 60)
        case .concurrentRunsExceeded(let limit):
            RunProblem(status: 429, code: "concurrent_runs_exceeded",
                       message: "This API key already has \(limit) runs pending or running (its max_concurrent_runs); wait for one to end.",
                       retryAfter: 1)
        }
    }
}

extension RunFailure: RunProblemConvertible {
    public var problem: RunProblem {
        switch self {
        case .maxTurnsExceeded(let turns):
            RunProblem(status: 422, code: "max_turns_exceeded",
                       message: "The agent made \(turns) model calls without reaching an answer (limits.max_turns).")
        case .timedOut(let limit):
            RunProblem(status: 504, code: "run_timeout",
                       message: "The run did not finish within \(limit.components.seconds) s (limits.timeout_seconds).")
        }
    }
}

extension UpstreamError: RunProblemConvertible {
    public var problem: RunProblem {
        switch kind {
        case .rateLimited:
            RunProblem(status: 429, code: "upstream_rate_limited", message: "The model server is rate limiting: \(message)",
                       retryAfter: retryAfter.map { Int($0.components.seconds) })
        case .timeout:
            RunProblem(status: 504, code: "upstream_timeout", message: "The model server timed out: \(message)")
        case .failed:
            RunProblem(status: 502, code: "upstream_error", message: "The model server failed: \(message)")
        }
    }
}

extension DecodingError: RunProblemConvertible {
    /// A field of the body that does not decode, by its JSON path. (A body that is not JSON at all is told apart
    /// where the body is decoded: 400 `malformed_json`.)
    public var problem: RunProblem { RunProblem.invalid(field: fieldPath, reason) }
}

extension RunProblem {
    public static func threadNotFound(_ id: String) -> RunProblem {
        RunProblem(status: 404, code: "thread_not_found", message: "No thread with id '\(Tenancy.publicID(id).prefix(100))'.")
    }
}

/// Thread ids are kept per tenant: `tenant \u{1F} id` in the store, the bare id on the wire.
public enum Tenancy {
    public static let separator: Character = "\u{1F}"

    public static func internalID(_ id: String, tenant: String) -> String {
        tenant.isEmpty ? id : tenant + String(separator) + id
    }

    public static func publicID(_ stored: String) -> String {
        guard let index = stored.firstIndex(of: separator) else { return stored }
        return String(stored[stored.index(after: index)...])
    }

    public static func owns(_ stored: String, tenant: String) -> Bool {
        tenant.isEmpty ? !stored.contains(separator) : stored.hasPrefix(tenant + String(separator))
    }
}
