import Foundation
import Store
import Testing

extension StoreConformance {
    /// Reservations of a key's daily tokens never add up past the limit, however they race; settling gives back.
    func tokenReservations() async throws {
        let store = try makeStore()
        #expect(try await store.reserveTokens(key: "k", day: "2026-01-01", tokens: 6, limit: 10) == 6)
        #expect(try await store.reserveTokens(key: "k", day: "2026-01-01", tokens: 6, limit: 10) == 4)
        #expect(try await store.reserveTokens(key: "k", day: "2026-01-01", tokens: 1, limit: 10) == 0)
        #expect(try await store.usage(key: "k", day: "2026-01-01") == 10)
        // Another day and another key have their own counts.
        #expect(try await store.reserveTokens(key: "k", day: "2026-01-02", tokens: 3, limit: 10) == 3)
        #expect(try await store.reserveTokens(key: "other", day: "2026-01-01", tokens: 3, limit: 10) == 3)
        // A run that used less than it held gives the rest back.
        try await store.addUsage(key: "k", day: "2026-01-01", tokens: -4)
        #expect(try await store.usage(key: "k", day: "2026-01-01") == 6)
        // Twenty at once, of a limit of 25 with 6 spent: exactly 19 granted in all.
        let granted = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await store.reserveTokens(key: "k", day: "2026-01-01", tokens: 1, limit: 25) } }
            return try await group.reduce(0, +)
        }
        #expect(granted == 19)
        #expect(try await store.usage(key: "k", day: "2026-01-01") == 25)
        // Several runs' tokens in one write (the engine's group commit), on a new day's row and on an existing one.
        try await store.addUsage(key: "k", day: "2026-01-03", tokens: 7, runs: 3)
        try await store.addUsage(key: "k", day: "2026-01-03", tokens: 5, runs: 2)
        #expect(try await store.usage(key: "k", day: "2026-01-03") == 12)
    }
}
