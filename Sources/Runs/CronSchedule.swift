// CronSchedule: standard 5-field cron expressions evaluated in an IANA time zone.
//
// Why hand-written: no maintained Swift cron package is available offline on this
// machine (the installed Swift package list has no cron library), and the server only
// needs "parse, validate, next firing", so a small Foundation-only file that is copied
// as-is into the server module is cheaper than a dependency. It does its own calendar
// arithmetic (proleptic Gregorian, integer days) because `Calendar` is slow and its
// `date(from:)` moves wall times inside a DST gap by the gap length (02:30 -> 03:30),
// which is not the behaviour we want; only UTC offsets are taken from `TimeZone`.

import Foundation

/// Why a cron expression or time zone was rejected. `message` is meant to be shown to
/// API users as-is, e.g. "minute field: 61 is out of range 0-59".
public struct CronScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Human-readable reason, prefixed with the field name when one field is at fault.
    public var message: String
    /// `minute`, `hour`, `day-of-month`, `month`, `day-of-week`, `timeZone`, or nil when
    /// the expression as a whole is wrong (empty, too long, wrong field count, bad macro).
    public var field: String?
    public init(message: String, field: String? = nil) { self.message = message; self.field = field }
    public var description: String { message }
}

/// A parsed cron schedule (`minute hour day-of-month month day-of-week`, Vixie cron /
/// croniter syntax, or a macro such as `@daily`) bound to a time zone.
///
/// Semantics, chosen to match Vixie cron / croniter (LangGraph) and to be safe around DST:
/// - If day-of-month and day-of-week are both restricted (neither is `*`), a day matches
///   when EITHER matches; otherwise the restricted one alone decides. As in croniter, `*/2`
///   counts as restricted (Vixie would AND it), and a field naming every day (`*/1`, `0-6`)
///   counts as `*` only when the other field contains a `*`.
/// - Times are local wall-clock times in the zone. A wall time inside a spring-forward
///   gap fires once, at the first instant after the gap (all gap times collapse into that
///   one firing). A wall time in a repeated (fall-back) hour fires once, at its first
///   occurrence; during the second pass of that hour nothing already fired fires again.
public struct CronSchedule: Sendable, Equatable {
    /// The expression exactly as given.
    public let expression: String
    /// The time zone identifier as given, or "UTC" when none was given.
    public let timeZoneIdentifier: String

    private let timeZone: TimeZone
    private let minutes: UInt64       // bit n = minute n
    private let hours: UInt64         // bit n = hour n
    private let daysOfMonth: UInt64   // bit n = day n (1-31)
    private let months: UInt64        // bit n = month n (1-12)
    private let daysOfWeek: UInt64    // bit n = weekday n (0 = Sunday ... 6)
    private let dayOfMonthRestricted: Bool
    private let dayOfWeekRestricted: Bool

    /// Longest accepted expression; keeps error messages and parsing cost bounded.
    public static let maxLength = 256
    /// How far `next(after:)` searches. 8 years (not 5) so that `0 0 29 2 *` still finds
    /// the next Feb 29 across a skipped century leap year (2096 -> 2104).
    static let searchDays = 366 * 8 + 2

    /// Parses `expression`; `identifier` is an IANA zone name (nil means UTC).
    public init(_ expression: String, timeZone identifier: String? = nil) throws(CronScheduleError) {
        guard expression.utf8.count <= Self.maxLength else {
            throw CronScheduleError(message: "cron expression is longer than \(Self.maxLength) characters")
        }
        if let identifier {
            guard let zone = TimeZone(identifier: identifier) else {
                throw CronScheduleError(message: "unknown time zone identifier \"\(identifier)\"; use an IANA name such as \"Europe/Berlin\"", field: "timeZone")
            }
            timeZone = zone
            timeZoneIdentifier = identifier
        } else {
            timeZone = TimeZone(secondsFromGMT: 0)!
            timeZoneIdentifier = "UTC"
        }
        self.expression = expression
        var text = expression.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("@") { text = try Self.expandMacro(text) }
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 5 else {
            if parts.isEmpty { throw CronScheduleError(message: "cron expression is empty") }
            let hint = parts.count == 6 || parts.count == 7 ? "; seconds and years fields are not supported" : ""
            throw CronScheduleError(message: "expected 5 fields (minute hour day-of-month month day-of-week) but got \(parts.count)\(hint)")
        }
        minutes = try Self.parseField(parts[0], .minute)
        hours = try Self.parseField(parts[1], .hour)
        daysOfMonth = try Self.parseField(parts[2], .dayOfMonth)
        months = try Self.parseField(parts[3], .month)
        let dow = try Self.parseField(parts[4], .dayOfWeek)
        daysOfWeek = (dow | (dow >> 7)) & 0x7F   // 7 is another name for Sunday (0)
        // croniter's rule, so schedules moved over from LangGraph fire on the same days: a field
        // is unrestricted when a list item is `*`, or it names every day and the other field
        // contains a `*` somewhere.
        let (domText, dowText) = (parts[2], parts[4])
        let star = { (t: Substring) in t.split(separator: ",").contains("*") }
        dayOfMonthRestricted = !(star(domText) || (daysOfMonth == 0xFFFF_FFFE && dowText.contains("*")))
        dayOfWeekRestricted = !(star(dowText) || (daysOfWeek == 0x7F && domText.contains("*")))
    }

    /// The first firing strictly after `date`, or nil when nothing matches within the
    /// search window (e.g. `0 0 30 2 *`). Feeding each result back in walks the schedule
    /// without duplicates or gaps. Skips non-matching months, days and hours instead of
    /// stepping minute by minute.
    public func next(after date: Date) -> Date? {
        let t = date.timeIntervalSince1970
        guard t.isFinite, abs(t) < 1e11 else { return nil }   // keep Int arithmetic and ICU sane
        let base = Int(t.rounded(.down))
        // Wall times W (whole minutes, as seconds since 1970-01-01T00:00 local) with W > wall(date).
        let wallNow = base + offset(at: base)
        let firstWall = Self.floorDiv(wallNow + 1 + 59, 60) * 60
        var day = Self.floorDiv(firstWall, 86_400)
        var minuteOfDay = (firstWall - day * 86_400) / 60
        let lastDay = day + Self.searchDays
        while day <= lastDay {
            let (year, month, dom) = Self.civil(fromDays: day)
            if months & (1 << UInt64(month)) == 0 {   // jump to the 1st of the next month
                day = Self.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1)
                minuteOfDay = 0
                continue
            }
            let weekday = Self.floorMod(day + 4, 7)   // 1970-01-01 was a Thursday
            let domOK = daysOfMonth & (1 << UInt64(dom)) != 0
            let dowOK = daysOfWeek & (1 << UInt64(weekday)) != 0
            let dayOK = dayOfMonthRestricted && dayOfWeekRestricted ? (domOK || dowOK) : (domOK && dowOK)
            if dayOK {
                var hour = minuteOfDay / 60, minute = minuteOfDay % 60
                while hour < 24, let h = Self.firstBit(hours, from: hour), h < 24 {
                    if h != hour { hour = h; minute = 0 }
                    guard let m = Self.firstBit(minutes, from: minute), m < 60 else { hour += 1; minute = 0; continue }
                    let wall = day * 86_400 + hour * 3_600 + m * 60
                    // In a repeated hour the resolved instant can lie before `date`: skip it.
                    if let instant = resolve(wall: wall), Double(instant) > t {
                        return Date(timeIntervalSince1970: Double(instant))
                    }
                    minute = m + 1
                    if minute == 60 { hour += 1; minute = 0 }
                }
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    // MARK: - Time zone resolution

    private func offset(at instant: Int) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// Maps a local wall time to an instant: the earliest valid one in a repeated hour,
    /// the transition instant when the wall time falls in a gap. Offsets are sampled a day
    /// either side, which sees any single transition near `wall` (zones stay within ±14 h).
    private func resolve(wall: Int) -> Int? {
        var offsets: [Int] = []
        for probe in [wall - 86_400, wall, wall + 86_400] {
            let o = offset(at: probe)
            if !offsets.contains(o) { offsets.append(o) }
        }
        let valid = offsets.map { wall - $0 }.filter { wall - offset(at: $0) == $0 }
        if let earliest = valid.min() { return earliest }
        // Gap: the transition lies in (wall - maxOffset, wall - minOffset]; binary search it.
        var lo = wall - offsets.max()!, hi = wall - offsets.min()!
        let before = offset(at: lo)
        guard offset(at: hi) != before else { return nil }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if offset(at: mid) == before { lo = mid } else { hi = mid }
        }
        return hi
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms)

    private static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    private static func floorMod(_ a: Int, _ b: Int) -> Int { a - floorDiv(a, b) * b }

    /// Days since 1970-01-01 for a civil date.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400), yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        return era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    }

    /// Civil date for days since 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097), doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, doy - (153 * mp + 2) / 5 + 1)
    }

    /// Lowest set bit at index >= `from`, if any.
    private static func firstBit(_ mask: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let rest = mask & (~UInt64(0) << UInt64(from))
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }

    // MARK: - Parsing

    private struct Field {
        let name: String, lo: Int, hi: Int, starHi: Int, names: [String], nameBase: Int
        static let minute = Field(name: "minute", lo: 0, hi: 59, starHi: 59, names: [], nameBase: 0)
        static let hour = Field(name: "hour", lo: 0, hi: 23, starHi: 23, names: [], nameBase: 0)
        static let dayOfMonth = Field(name: "day-of-month", lo: 1, hi: 31, starHi: 31, names: [], nameBase: 0)
        static let month = Field(name: "month", lo: 1, hi: 12, starHi: 12,
            names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], nameBase: 1)
        // 7 is accepted as Sunday in values and ranges, but `*` and `a/n` stop at 6 (croniter).
        static let dayOfWeek = Field(name: "day-of-week", lo: 0, hi: 7, starHi: 6,
            names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], nameBase: 0)
        func error(_ text: String) -> CronScheduleError { CronScheduleError(message: "\(name) field: \(text)", field: name) }
    }

    private static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]

    private static func expandMacro(_ text: String) throws(CronScheduleError) -> String {
        let key = text.lowercased()
        if let expanded = macros[key] { return expanded }
        if key == "@reboot" {
            throw CronScheduleError(message: "@reboot is not supported: it means \"at daemon start\" and has no next time")
        }
        throw CronScheduleError(message: "unknown macro \"\(text)\"; expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly")
    }

    /// Parses one field (a comma list of `*`, `a`, `a-b`, each optionally `/step`) into a bit mask.
    private static func parseField(_ text: Substring, _ f: Field) throws(CronScheduleError) -> UInt64 {
        var mask: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw f.error("empty list item in \"\(text)\"") }
            let slash = item.split(separator: "/", omittingEmptySubsequences: false)
            guard slash.count <= 2 else { throw f.error("\"\(item)\" has more than one \"/\"") }
            var step = 1
            if slash.count == 2 {
                guard let n = number(slash[1]) else { throw f.error("step \"\(slash[1])\" is not a positive number") }
                guard n >= 1 else { throw f.error("step 0 in \"\(item)\" is not allowed") }
                guard n <= f.starHi - f.lo + 1 else { throw f.error("step \(n) in \"\(item)\" is larger than the range \(f.lo)-\(f.starHi)") }
                step = n
            }
            let range = slash[0]
            let a: Int, b: Int
            if range == "*" {
                (a, b) = (f.lo, f.starHi)
            } else if range.contains("-") {
                let ends = range.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count == 2 else { throw f.error("\"\(range)\" is not a valid range") }
                (a, b) = (try value(ends[0], f), try value(ends[1], f))
                guard a <= b else { throw f.error("range \"\(range)\" is reversed (\(a) > \(b))") }
            } else {
                a = try value(range, f)
                b = slash.count == 2 ? max(a, f.starHi) : a   // `a/n` runs from a to the field maximum
            }
            for v in stride(from: a, through: b, by: step) { mask |= 1 << UInt64(v) }
        }
        return mask
    }

    /// A decimal number of at most 4 ASCII digits (so it cannot overflow), else nil.
    private static func number(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 4, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }

    private static func value(_ s: Substring, _ f: Field) throws(CronScheduleError) -> Int {
        if let n = number(s) {
            guard n >= f.lo && n <= f.hi else { throw f.error("\(n) is out of range \(f.lo)-\(f.hi)") }
            return n
        }
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) { throw f.error("\(s) is out of range \(f.lo)-\(f.hi)") }
        if let i = f.names.firstIndex(of: s.uppercased()) { return i + f.nameBase }
        let what = f.names.isEmpty ? "a number" : "a number or a name (\(f.names.first!)-\(f.names.last!))"
        throw f.error(s.isEmpty ? "missing value" : "\"\(s)\" is not \(what)")
    }
}
