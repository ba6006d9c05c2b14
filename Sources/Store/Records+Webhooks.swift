import Foundation

/// A webhook the store will hand to a dispatcher until it is delivered or gives up.
public struct NewDelivery: Sendable, Equatable {
    /// Also the `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    public var id: String
    public var runID: String
    public var threadID: String?
    public var url: String
    public var eventType: String
    public var payload: [UInt8]

    public init(id: String, runID: String, threadID: String?, url: String, eventType: String, payload: [UInt8]) {
        self.id = id
        self.runID = runID
        self.threadID = threadID
        self.url = url
        self.eventType = eventType
        self.payload = payload
    }
}

public enum DeliveryStatus: String, Sendable, CaseIterable {
    case pending, delivered, failed
}

public struct DeliveryRecord: Sendable, Equatable {
    public var id: String
    public var runID: String
    public var threadID: String?
    public var url: String
    public var eventType: String
    public var payload: [UInt8]
    public var status: DeliveryStatus
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var updatedAt: Date
    public var log: [DeliveryAttempt] = []
}

public struct DeliveryAttempt: Sendable, Equatable {
    public var attempt: Int
    public var at: Date
    public var statusCode: Int?
    public var error: String?
    public var durationMilliseconds: Int

    public init(attempt: Int, at: Date, statusCode: Int?, error: String?, durationMilliseconds: Int) {
        self.attempt = attempt
        self.at = at
        self.statusCode = statusCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
    }
}

// A public initializer, for store implementations in other modules.
extension DeliveryRecord {
    public init(id: String, runID: String, threadID: String?, url: String, eventType: String, payload: [UInt8],
                status: DeliveryStatus, attempts: Int, nextAttemptAt: Date, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.runID = runID
        self.threadID = threadID
        self.url = url
        self.eventType = eventType
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
