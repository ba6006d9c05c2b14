import Foundation
import GRDB

extension SQLiteStore: EventLog {
    public func appendEvents(run id: String, _ events: [EventRecord]) async throws {
        guard !events.isEmpty else { return }
        let now = self.now().milliseconds
        do {
            try await writing { db in
                let statement = try db.cached("INSERT INTO run_events (run_id, seq, event, data, created_at) VALUES (?, ?, ?, ?, ?)")
                for event in events {
                    try statement.execute(arguments: [id, event.seq, event.event, Data(event.data), now])
                }
            }
            bells?.ring(id)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            if error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY { throw StoreError.runNotFound(id) }
            throw StoreError.eventConflict(runID: id, seq: events[0].seq)
        }
    }

    public func events(run id: String, after seq: Int, limit: Int) async throws -> [EventRecord] {
        try await reading { db in
            try Row.fetchAll(db.cached("SELECT seq, event, data FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
                             arguments: [id, seq, limit])
                .map { EventRecord(seq: $0["seq"], event: $0["event"], data: Array($0["data"] as Data)) }
        }
    }

    public func lastEventSeq(run id: String) async throws -> Int {
        try await reading { db in
            try Int.fetchOne(db.cached("SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?"), arguments: [id]) ?? 0
        }
    }
}

extension SQLiteStore: StoreNotifying {
    public var notifies: Bool { bells != nil }

    public func follow(_ handler: @escaping @Sendable (StoreNotice) -> Void) async throws {
        guard let bells else { return try await Task.sleep(for: .seconds(3600 * 24 * 365)) }
        try await bells.follow { payload in StoreNotice(payload: payload).map(handler) }
    }

    public func notify(_ notice: StoreNotice) async {
        bells?.ring(notice.payload)
    }
}
