import Foundation
import Store
import Testing

extension StoreConformance {
    /// Stateless runs' places and stored runs share one count per key, seen by every worker (two stores on one
    /// database); a place given back or lapsed makes room, and a renewed one does not lapse.
    func runPlacesShareTheKeysCount() async throws {
        let one = try makeStore(), two = try makeStore()
        #expect(try await one.takeRunPlace("a", key: "k", limit: 3, until: clock.now + 10))
        #expect(try await two.takeRunPlace("b", key: "k", limit: 3, until: clock.now + 10))
        // Another key has its own count.
        #expect(try await two.takeRunPlace("x", key: "other", limit: 1, until: clock.now + 10))
        var stored = NewRun(id: "r1", threadID: nil, assistantID: "x")
        stored.keyID = "k"
        stored.maxConcurrentRuns = 3
        _ = try await one.createRun(stored)
        #expect(try await two.takeRunPlace("c", key: "k", limit: 3, until: clock.now + 10) == false)
        stored.id = "r2"
        await #expect(throws: StoreError.concurrentRunsExceeded(limit: 3)) { _ = try await two.createRun(stored) }

        // Given back: room for one.
        try await two.releaseRunPlace("a")
        #expect(try await one.takeRunPlace("c", key: "k", limit: 3, until: clock.now + 10))
        #expect(try await one.takeRunPlace("d", key: "k", limit: 3, until: clock.now + 10) == false)

        // "b" is renewed, "c" is not (its worker died): after 10 s only "c" has lapsed.
        clock.advance(6)
        try await two.renewRunPlaces(["b", "gone"], until: clock.now + 10)
        clock.advance(6)
        _ = try await two.createRun(stored)
        stored.id = "r3"
        await #expect(throws: StoreError.concurrentRunsExceeded(limit: 3)) { _ = try await one.createRun(stored) }
        #expect(try await one.takeRunPlace("e", key: "k", limit: 3, until: clock.now + 10) == false)
        // A run that ends makes room.
        try await one.releaseRunPlace("b")
        #expect(try await two.takeRunPlace("f", key: "k", limit: 3, until: clock.now + 10))
    }
}
