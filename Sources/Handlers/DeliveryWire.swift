import Outbound
import Runs
import Store

/// The delivery log of a run, as `GET .../runs/{run_id}/webhooks` shows it.
struct DeliveryWire: Encodable {
    var webhook_id: String
    var url: String
    var type: String
    var status: String
    var attempts: [Attempt]
    var next_attempt_at: String?
    var created_at: String

    struct Attempt: Encodable {
        var attempt: Int
        var at: String
        var status_code: Int?
        var error: String?
        var duration_ms: Int
    }

    /// Attempts stored before the outbound policy kept raw error texts (addresses, connection errors): those
    /// read as a plain "failed", so that old rows leak nothing either.
    static func shown(_ error: String) -> String {
        OutboundError.reasons.contains(error) || WebhookDispatcher.reasons.contains(error) ? error : "failed"
    }

    init(_ record: DeliveryRecord) {
        webhook_id = record.id
        url = record.url
        type = record.eventType
        status = record.status.rawValue
        attempts = record.log.map { Attempt(attempt: $0.attempt, at: ThreadWire.time($0.at), status_code: $0.statusCode,
                                            error: $0.error.map(Self.shown), duration_ms: $0.durationMilliseconds) }
        next_attempt_at = record.status == .pending ? ThreadWire.time(record.nextAttemptAt) : nil
        created_at = ThreadWire.time(record.createdAt)
    }
}
