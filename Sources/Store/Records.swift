import Foundation

/// JSON text as stored; the store keeps payloads opaque so that it needs no knowledge of message shapes.
public typealias JSONText = String

/// Bounds the store keeps whatever the caller.
public enum StoreLimits {
    /// Messages written into a thread outside runs stop here: every read of a thread loads it whole.
    public static let maxMessagesPerThread = 10_000
    /// A thread's state beside its messages (`ThreadRecord.values`), as JSON.
    public static let maxThreadValuesBytes = 64 * 1024
    /// A tenant's assistants: search merges them with the configured agents in memory.
    public static let maxAssistantsPerTenant = 1_000
    public static let maxCronsPerTenant = 100

    /// `current` with each top-level key of `update` set (LangGraph's default for state keys without a reducer:
    /// the last write wins); throws `threadValuesTooLarge` past the bound.
    public static func merge(values current: JSONText, with update: JSONText, thread: String) throws -> JSONText {
        var merged = (try? JSONSerialization.jsonObject(with: Data(current.utf8))) as? [String: Any] ?? [:]
        guard let changes = try JSONSerialization.jsonObject(with: Data(update.utf8)) as? [String: Any] else { return current }
        for (key, value) in changes { merged[key] = value }
        let data = try JSONSerialization.data(withJSONObject: merged, options: [.sortedKeys, .fragmentsAllowed])
        guard data.count <= maxThreadValuesBytes else { throw StoreError.threadValuesTooLarge(thread, limit: maxThreadValuesBytes) }
        return String(decoding: data, as: UTF8.self)
    }
}

public enum StoreError: Error, Sendable, Equatable {
    case threadExists(String)
    case threadNotFound(String)
    case runNotFound(String)
    /// The thread has an active run and the strategy is `reject`.
    case threadBusy(threadID: String, runID: String)
    /// The thread waits for an answer to its approval `approvalID`; only a run answering it may start.
    case approvalPending(threadID: String, approvalID: String)
    /// The run answers an approval the thread no longer waits for (answered already, or never asked).
    case approvalNotPending(threadID: String)
    /// The run is still pending or running.
    case runActive(String)
    /// A second writer for the same event sequence number.
    case eventConflict(runID: String, seq: Int)
    /// The key already has `limit` runs pending or running.
    case concurrentRunsExceeded(limit: Int)
    case threadFull(String, limit: Int)
    case threadValuesTooLarge(String, limit: Int)
    /// The key has `limit` runs waiting in the queue already.
    case pendingRunsExceeded(limit: Int)
    /// The tenant has an assistant of this id already.
    case assistantExists(String)
    /// The tenant has `limit` assistants already.
    case assistantLimit(limit: Int)
    /// The tenant has `limit` crons already.
    case cronLimit(limit: Int)
    /// The database did not take the operation in time (another writer holds it, or it is out of reach): nothing
    /// was written; the same request may be sent again shortly.
    case busy
    /// The database's disk is full: nothing was written; writes succeed again once the operator has made room.
    case full
}
