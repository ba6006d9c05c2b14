import Foundation
import Store

/// A key's daily token budget: the tokens of its finished runs, per UTC day. A run that starts under the budget
/// may end above it; the next one is refused until the day turns.
enum Budget {
    static func today(_ now: Date = Date()) -> String {
        now.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }

    static func check(_ principal: Principal?, store: any AgentStore) async throws {
        guard let principal, let budget = principal.dailyTokenBudget else { return }
        let spent = try await store.usage(key: principal.keyID, day: today())
        guard spent < budget else {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            let midnight = calendar.startOfDay(for: Date()).addingTimeInterval(86_400)
            let wait = max(1, Int(midnight.timeIntervalSinceNow.rounded(.up)))
            throw APIError(status: 429, code: "daily_token_budget_exceeded",
                           detail: "This API key has used \(spent) of its \(budget) tokens today (UTC); it renews at midnight UTC.",
                           headers: HTTPHeaders([("Retry-After", String(wait))]))
        }
    }
}
