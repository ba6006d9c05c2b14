import Foundation
import Store

/// A key's daily token budget: the tokens of its finished runs, per UTC day. A run that starts under the budget
/// may end above it; the next one is refused until the day turns.
enum Budget {
    static func today(_ now: Date = Date()) -> String {
        now.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }

    static func check(_ quota: RunQuota?, store: any AgentStore) async throws {
        guard let quota, let budget = quota.dailyTokenBudget else { return }
        let spent = try await store.usage(key: quota.keyID, day: today())
        guard spent < budget else {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            let midnight = calendar.startOfDay(for: Date()).addingTimeInterval(86_400)
            let wait = max(1, Int(midnight.timeIntervalSinceNow.rounded(.up)))
            throw RunProblem(status: 429, code: "daily_token_budget_exceeded",
                             message: "This API key has used \(spent) of its \(budget) tokens today (UTC); it renews at midnight UTC.",
                             retryAfter: wait)
        }
    }
}

/// What an API key may spend: its id and limits, as the caller's authentication found them.
public struct RunQuota: Sendable, Equatable {
    public var keyID: String
    public var maxConcurrentRuns: Int?
    public var dailyTokenBudget: Int?

    public init(keyID: String, maxConcurrentRuns: Int? = nil, dailyTokenBudget: Int? = nil) {
        self.keyID = keyID
        self.maxConcurrentRuns = maxConcurrentRuns
        self.dailyTokenBudget = dailyTokenBudget
    }
}
