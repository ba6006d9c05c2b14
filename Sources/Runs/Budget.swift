import AgentRuntime
import Foundation
import Store
import Synchronization

/// A key's daily token budget: the tokens of its runs, per UTC day. A run reserves its estimate when it is admitted
/// (in one store step, so runs admitted together cannot overspend), takes more as it goes past the estimate, is
/// stopped before its next step (tools, another model call) when the budget has none left, and settles what it used.
enum Budget {
    static func today(_ now: Date = Date()) -> String {
        now.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }

    /// What a run is likely to spend: its input and instructions, and one answer at the agent's cap (1,024 without one).
    static func estimate(_ agent: AgentDefinition, input: [ChatMessage]) -> Int {
        input.reduce(Tokenizer.count(agent.instructions)) { $0 + Tokenizer.count($1.content) } + (agent.model.maxTokens ?? 1024)
    }

    /// Reserves up to `estimate` tokens of the key's budget for today; nil when the key has no budget. 429 when the
    /// day's budget is spent.
    /// `estimate` is worked out only for a key with a budget (it reads the whole input).
    static func reserve(_ quota: RunQuota?, estimate: () throws -> Int, store: any AgentStore) async throws -> TokenReservation? {
        guard let quota, let budget = quota.dailyTokenBudget else { return nil }
        let day = today()
        let granted = try await store.reserveTokens(key: quota.keyID, day: day, tokens: max(1, try estimate()), limit: budget)
        guard granted > 0 else { throw exceeded(budget: budget, spent: try await store.usage(key: quota.keyID, day: day)) }
        return TokenReservation(keyID: quota.keyID, day: day, limit: budget, reserved: granted)
    }

    static func exceeded(budget: Int, spent: Int, during: Bool = false) -> RunProblem {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let midnight = calendar.startOfDay(for: Date()).addingTimeInterval(86_400)
        let wait = max(1, Int(midnight.timeIntervalSinceNow.rounded(.up)))
        let what = during ? "The run stopped: this API key has spent" : "This API key has used"
        return RunProblem(status: 429, code: "daily_token_budget_exceeded",
                          message: "\(what) \(spent) of its \(budget) tokens today (UTC); it renews at midnight UTC.",
                          retryAfter: wait)
    }
}

/// The part of a key's daily budget a run holds: taken at admission, carried in the stored job so that whichever
/// worker runs it settles the same reservation.
public struct TokenReservation: Codable, Sendable, Equatable {
    public var keyID: String
    public var day: String
    public var limit: Int
    public var reserved: Int

    enum CodingKeys: String, CodingKey { case keyID = "key_id", day, limit, reserved }
}

/// A running run's spending against its reservation: more is taken as it goes past it, and at the end the difference
/// between what it used and what it holds goes back to (or onto) the key's count.
final class BudgetMeter: Sendable {
    private let state: Mutex<(reservation: TokenReservation, exhausted: Bool)>
    private let engine: RunEngine

    init(_ reservation: TokenReservation, engine: RunEngine) {
        self.state = Mutex((reservation, false))
        self.engine = engine
    }

    /// After a model call, the run has used `total` tokens. Past its reservation it takes the difference from the
    /// budget; when the budget cannot give it all, the run may not go on (`check`), though the answer it has stands.
    func charge(total: Int) async throws {
        let held = state.withLock { $0.reservation }
        guard total > held.reserved else { return }
        let granted = try await engine.store.reserveTokens(key: held.keyID, day: held.day, tokens: total - held.reserved, limit: held.limit)
        state.withLock {
            $0.reservation.reserved += granted
            if granted < total - held.reserved { $0.exhausted = true }
        }
    }

    /// Before the run's next step (its tools, then another model call): a run past its key's budget stops here.
    func check() async throws {
        let (held, exhausted) = state.withLock { ($0.reservation, $0.exhausted) }
        guard exhausted else { return }
        throw Budget.exceeded(budget: held.limit, spent: (try? await engine.store.usage(key: held.keyID, day: held.day)) ?? held.limit, during: true)
    }

    /// Once, at the run's end: what it used, less what it holds.
    func settle(used: Int) async {
        let held = state.withLock { $0.reservation }
        await engine.recordUsage(key: held.keyID, tokens: used - held.reserved, day: held.day)
    }
}

/// What an API key may spend: its id and limits, as the caller's authentication found them.
public struct RunQuota: Sendable, Equatable {
    public var keyID: String
    public var maxConcurrentRuns: Int?
    public var dailyTokenBudget: Int?
    /// The key's tenant: whose memories a stateless run's agent reaches (a stored run's thread says it).
    public var tenant: String

    public init(keyID: String, maxConcurrentRuns: Int? = nil, dailyTokenBudget: Int? = nil, tenant: String = "") {
        self.keyID = keyID
        self.maxConcurrentRuns = maxConcurrentRuns
        self.dailyTokenBudget = dailyTokenBudget
        self.tenant = tenant
    }
}
