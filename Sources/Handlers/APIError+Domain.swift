import AgentRuntime
import Foundation
import Store

/// A domain error that knows its API form: one dialect-neutral value (status, code, detail, field, headers) that
/// each dialect renders in its own shape (problem+json here). Every conformance is in this file, so that what a
/// client sees for each failure is read in one place (the model is Hummingbird's `HTTPResponseError`).
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

extension APIError: APIErrorConvertible {
    public var apiError: APIError { self }

    /// How a run's own failure reads in its stream or record: the run's errors (limits, the model server) and
    /// errors already in API form; anything else is unexpected (nil: a 500 whose cause only the log may see).
    static func ofRun(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: error
        case let error as RunFailure: error.apiError
        case let error as UpstreamError: error.apiError
        default: nil
        }
    }
}

extension StoreError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .threadExists(let id):
            APIError(status: 409, code: "thread_exists", detail: "A thread with id '\(Tenancy.publicID(id).prefix(100))' exists (if_exists: raise).",
                     field: "thread_id", headers: HTTPHeaders([("x-should-retry", "false")]))
        case .threadNotFound(let id):
            APIError.threadNotFound(id)
        case .runNotFound(let id):
            APIError.notFound("No run with id '\(id.prefix(100))'.", code: "run_not_found")
        case .threadBusy(let threadID, let runID):
            APIError(status: 409, code: "thread_busy",
                     detail: "Thread '\(Tenancy.publicID(threadID).prefix(100))' is running run '\(runID)'; wait for it, or send multitask_strategy enqueue, interrupt or rollback.",
                     field: "multitask_strategy", headers: HTTPHeaders([("x-should-retry", "false")]))
        case .runActive(let id):
            APIError(status: 409, code: "run_active", detail: "Run '\(id)' is still pending or running; cancel it first.",
                     headers: HTTPHeaders([("x-should-retry", "false")]))
        case .eventConflict(let runID, _):
            APIError(status: 409, code: "run_conflict", detail: "Run '\(runID)' is being written by another worker.")
        case .concurrentRunsExceeded(let limit):
            APIError(status: 429, code: "concurrent_runs_exceeded",
                     detail: "This API key already has \(limit) runs pending or running (its max_concurrent_runs); wait for one to end.",
                     headers: HTTPHeaders([("Retry-After", "1")]))
        }
    }
}

extension RunFailure: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .maxTurnsExceeded(let turns):
            APIError(status: 422, code: "max_turns_exceeded",
                     detail: "The agent made \(turns) model calls without reaching an answer (limits.max_turns).")
        case .timedOut(let limit):
            APIError(status: 504, code: "run_timeout",
                     detail: "The run did not finish within \(limit.components.seconds) s (limits.timeout_seconds).")
        }
    }
}

extension UpstreamError: APIErrorConvertible {
    public var apiError: APIError {
        switch kind {
        case .rateLimited:
            APIError(status: 429, code: "upstream_rate_limited", detail: "The model server is rate limiting: \(message)",
                     headers: HTTPHeaders(retryAfter.map { [("Retry-After", "\($0.components.seconds)")] } ?? []))
        case .timeout:
            APIError(status: 504, code: "upstream_timeout", detail: "The model server timed out: \(message)")
        case .failed:
            APIError(status: 502, code: "upstream_error", detail: "The model server failed: \(message)")
        }
    }
}

extension DecodingError: APIErrorConvertible {
    /// A field of the body that does not decode, by its JSON path. (A body that is not JSON at all is told apart
    /// where the body is decoded: 400 `malformed_json`.)
    public var apiError: APIError { APIError.invalid(field: fieldPath, reason) }
}

extension UnavailableStore.Unavailable: APIErrorConvertible {
    var apiError: APIError {
        APIError(status: 503, code: "store_unavailable", detail: "This server has no store configured for threads and runs.")
    }
}

extension APIError {
    static func threadNotFound(_ id: String) -> APIError {
        APIError.notFound("No thread with id '\(Tenancy.publicID(id).prefix(100))'.", code: "thread_not_found")
    }
}
