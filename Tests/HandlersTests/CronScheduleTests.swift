import Foundation
import Testing
@testable import Runs

// Every expected instant below was computed by hand (and cross-checked against the IANA
// tz rules), never produced by the code under test.

/// Parses "2026-03-08T07:00Z" or "2026-03-08T07:00:30Z" as UTC.
private func utc(_ s: String) -> Date {
    let f = ISO8601DateFormatter()
    let full = s.count == 17 ? s.replacingOccurrences(of: "Z", with: ":00Z") : s
    guard let d = f.date(from: full) else { fatalError("bad test date \(s)") }
    return d
}

/// `count` consecutive `next` results starting after `start`, as ISO strings (minute precision).
private func walk(_ expr: String, tz: String? = nil, from start: String, count: Int) throws -> [String] {
    let schedule = try CronSchedule(expr, timeZone: tz)
    var out: [String] = []
    var t = utc(start)
    for _ in 0..<count {
        guard let n = schedule.next(after: t) else { out.append("nil"); break }
        #expect(n > t)
        out.append(iso(n))
        t = n
    }
    return out
}

private func iso(_ d: Date) -> String {
    let s = ISO8601DateFormatter().string(from: d)   // 2026-03-08T07:00:00Z
    return s.hasSuffix(":00Z") ? String(s.dropLast(4)) + "Z" : s
}

private func error(_ expr: String, tz: String? = nil) -> CronScheduleError? {
    do { _ = try CronSchedule(expr, timeZone: tz); return nil } catch { return error }
}

// MARK: - Syntax

@Test func cron_listsRangesSteps() throws {
    let s = "2026-01-01T00:00Z"
    #expect(try walk("5,10 * * * *", from: s, count: 3) == ["2026-01-01T00:05Z", "2026-01-01T00:10Z", "2026-01-01T01:05Z"])
    #expect(try walk("10-12 * * * *", from: s, count: 4) == ["2026-01-01T00:10Z", "2026-01-01T00:11Z", "2026-01-01T00:12Z", "2026-01-01T01:10Z"])
    #expect(try walk("*/20 * * * *", from: s, count: 3) == ["2026-01-01T00:20Z", "2026-01-01T00:40Z", "2026-01-01T01:00Z"])
    #expect(try walk("10-40/15 * * * *", from: s, count: 4) == ["2026-01-01T00:10Z", "2026-01-01T00:25Z", "2026-01-01T00:40Z", "2026-01-01T01:10Z"])
    #expect(try walk("50/5 * * * *", from: s, count: 3) == ["2026-01-01T00:50Z", "2026-01-01T00:55Z", "2026-01-01T01:50Z"])
    #expect(try walk("30 9,17 * * *", from: s, count: 3) == ["2026-01-01T09:30Z", "2026-01-01T17:30Z", "2026-01-02T09:30Z"])
    #expect(try walk("0 */8 * * *", from: s, count: 3) == ["2026-01-01T08:00Z", "2026-01-01T16:00Z", "2026-01-02T00:00Z"])
    #expect(try walk("0 0 10-20/5 * *", from: s, count: 4) == ["2026-01-10T00:00Z", "2026-01-15T00:00Z", "2026-01-20T00:00Z", "2026-02-10T00:00Z"])
    #expect(try walk("1,* * * * *", from: s, count: 2) == ["2026-01-01T00:01Z", "2026-01-01T00:02Z"])
    #expect(try walk("  0\t0   * * *\n", from: s, count: 1) == ["2026-01-02T00:00Z"])
}

@Test func cron_monthAndDayNames() throws {
    let s = "2026-01-01T00:00Z"   // a Thursday
    #expect(try walk("0 0 1 jan,Mar-MAY *", from: s, count: 4) == ["2026-03-01T00:00Z", "2026-04-01T00:00Z", "2026-05-01T00:00Z", "2027-01-01T00:00Z"])
    #expect(try walk("0 0 1 */4 *", from: s, count: 3) == ["2026-05-01T00:00Z", "2026-09-01T00:00Z", "2027-01-01T00:00Z"])
    #expect(try walk("0 0 * * mon-Wed", from: s, count: 4) == ["2026-01-05T00:00Z", "2026-01-06T00:00Z", "2026-01-07T00:00Z", "2026-01-12T00:00Z"])
    #expect(try walk("0 0 * * SAT,sun", from: s, count: 3) == ["2026-01-03T00:00Z", "2026-01-04T00:00Z", "2026-01-10T00:00Z"])
    #expect(try walk("0 0 * * 7", from: s, count: 2) == ["2026-01-04T00:00Z", "2026-01-11T00:00Z"])
    #expect(try walk("0 0 * * 0", from: s, count: 1) == ["2026-01-04T00:00Z"])
    #expect(try walk("0 0 * * 5-7", from: s, count: 4) == ["2026-01-02T00:00Z", "2026-01-03T00:00Z", "2026-01-04T00:00Z", "2026-01-09T00:00Z"])
    #expect(try walk("0 0 * * 1/2", from: s, count: 3) == ["2026-01-02T00:00Z", "2026-01-05T00:00Z", "2026-01-07T00:00Z"])
    #expect(try walk("0 0 * * MON-FRI/2", from: s, count: 3) == ["2026-01-02T00:00Z", "2026-01-05T00:00Z", "2026-01-07T00:00Z"])
}

@Test func cron_macros() throws {
    let s = "2026-01-01T00:00Z"
    #expect(try walk("@yearly", from: s, count: 1) == ["2027-01-01T00:00Z"])
    #expect(try walk("@annually", from: s, count: 1) == ["2027-01-01T00:00Z"])
    #expect(try walk("@monthly", from: s, count: 1) == ["2026-02-01T00:00Z"])
    #expect(try walk("@weekly", from: s, count: 1) == ["2026-01-04T00:00Z"])
    #expect(try walk("@daily", from: s, count: 1) == ["2026-01-02T00:00Z"])
    #expect(try walk("@midnight", from: s, count: 1) == ["2026-01-02T00:00Z"])
    #expect(try walk("@hourly", from: s, count: 2) == ["2026-01-01T01:00Z", "2026-01-01T02:00Z"])
    #expect(try walk("@DAILY", from: s, count: 1) == ["2026-01-02T00:00Z"])
}

@Test func cron_strictlyAfterAndSubSecond() throws {
    let s = try CronSchedule("* * * * *")
    #expect(s.next(after: utc("2026-01-01T10:00Z")) == utc("2026-01-01T10:01Z"))
    #expect(s.next(after: utc("2026-01-01T10:00Z").addingTimeInterval(0.5)) == utc("2026-01-01T10:01Z"))
    #expect(s.next(after: utc("2026-01-01T10:00Z").addingTimeInterval(-0.001)) == utc("2026-01-01T10:00Z"))
    #expect(s.next(after: utc("2026-12-31T23:59Z")) == utc("2027-01-01T00:00Z"))
}

@Test func cron_walkAcrossHourBoundary() throws {
    #expect(try walk("*/7 * * * *", from: "2026-01-01T09:40Z", count: 10) == [
        "2026-01-01T09:42Z", "2026-01-01T09:49Z", "2026-01-01T09:56Z", "2026-01-01T10:00Z", "2026-01-01T10:07Z",
        "2026-01-01T10:14Z", "2026-01-01T10:21Z", "2026-01-01T10:28Z", "2026-01-01T10:35Z", "2026-01-01T10:42Z"])
}

// MARK: - Day rules

@Test func cron_dayOfMonthOrDayOfWeek() throws {
    // Feb 1 2026 is a Sunday. "1st of the month OR Monday" (Vixie OR rule).
    #expect(try walk("0 0 1 * 1", from: "2026-02-01T00:00Z", count: 6) == [
        "2026-02-02T00:00Z", "2026-02-09T00:00Z", "2026-02-16T00:00Z", "2026-02-23T00:00Z",
        "2026-03-01T00:00Z", "2026-03-02T00:00Z"])
    // `*/10` counts as restricted (croniter): days 1, 11, 21, 31 OR Mondays.
    #expect(try walk("0 0 */10 * mon", from: "2026-02-01T00:00Z", count: 4) == [
        "2026-02-02T00:00Z", "2026-02-09T00:00Z", "2026-02-11T00:00Z", "2026-02-16T00:00Z"])
    // Only one restricted: it alone decides.
    #expect(try walk("0 0 * * 1", from: "2026-02-01T00:00Z", count: 2) == ["2026-02-02T00:00Z", "2026-02-09T00:00Z"])
    #expect(try walk("0 0 1 * *", from: "2026-02-01T00:00Z", count: 2) == ["2026-03-01T00:00Z", "2026-04-01T00:00Z"])
    // croniter's edge rule: a field naming every day is restricted (OR: every day) unless the
    // other field contains `*`, then it counts as `*` and the other one alone decides.
    #expect(try walk("0 0 1-31 * 1", from: "2026-02-01T00:00Z", count: 2) == ["2026-02-02T00:00Z", "2026-02-03T00:00Z"])
    #expect(try walk("0 0 13 * 0-6", from: "2026-02-01T00:00Z", count: 2) == ["2026-02-02T00:00Z", "2026-02-03T00:00Z"])
    #expect(try walk("0 0 */1 * */3", from: "2026-02-01T00:00Z", count: 3) == ["2026-02-04T00:00Z", "2026-02-07T00:00Z", "2026-02-08T00:00Z"])
    #expect(try walk("0 0 */2 * 0-7", from: "2026-02-01T00:00Z", count: 2) == ["2026-02-03T00:00Z", "2026-02-05T00:00Z"])
    // A bare `*` item in a list makes the field unrestricted.
    #expect(try walk("0 0 15,* * 1", from: "2026-02-01T00:00Z", count: 2) == ["2026-02-02T00:00Z", "2026-02-09T00:00Z"])
    // Friday the 13th needs both, which cron cannot say: 13th OR Friday.
    #expect(try walk("0 0 13 * 5", from: "2026-02-07T00:00Z", count: 3) == ["2026-02-13T00:00Z", "2026-02-20T00:00Z", "2026-02-27T00:00Z"])
}

@Test func cron_leapDayAndShortMonths() throws {
    #expect(try walk("0 0 29 2 *", from: "2026-01-01T00:00Z", count: 2) == ["2028-02-29T00:00Z", "2032-02-29T00:00Z"])
    // 2100 is not a leap year: 8 years between leap days.
    #expect(try walk("0 0 29 2 *", from: "2096-03-01T00:00Z", count: 1) == ["2104-02-29T00:00Z"])
    #expect(try walk("0 0 31 * *", from: "2026-01-31T00:00Z", count: 6) == [
        "2026-03-31T00:00Z", "2026-05-31T00:00Z", "2026-07-31T00:00Z", "2026-08-31T00:00Z",
        "2026-10-31T00:00Z", "2026-12-31T00:00Z"])
}

@Test func cron_neverMatchingReturnsNil() throws {
    #expect(try CronSchedule("0 0 30 2 *").next(after: utc("2026-01-01T00:00Z")) == nil)
    #expect(try CronSchedule("0 0 31 4,6,9,11 *").next(after: utc("2026-01-01T00:00Z")) == nil)
    // Far outside any sensible range: refused rather than computed with overflowing arithmetic.
    #expect(try CronSchedule("0 0 * * *").next(after: Date(timeIntervalSince1970: 1e12)) == nil)
    #expect(try CronSchedule("0 0 * * *").next(after: Date.distantFuture) == utc("4001-01-02T00:00Z"))
}

// MARK: - Time zones and DST

@Test func cron_timeZones() throws {
    let plain = try CronSchedule("0 9 * * *")
    #expect(plain.timeZoneIdentifier == "UTC")
    #expect(plain.next(after: utc("2026-01-01T00:00Z")) == utc("2026-01-01T09:00Z"))
    #expect(try CronSchedule("0 9 * * *", timeZone: "Asia/Kolkata").next(after: utc("2026-01-01T00:00Z")) == utc("2026-01-01T03:30Z"))
    #expect(try CronSchedule("0 9 * * *", timeZone: "America/New_York").next(after: utc("2026-01-01T00:00Z")) == utc("2026-01-01T14:00Z"))
    for name in ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"] {
        #expect(try CronSchedule("* * * * *", timeZone: name).timeZoneIdentifier == name)
    }
    #expect(plain == (try CronSchedule("0 9 * * *", timeZone: nil)))
    #expect(plain != (try CronSchedule("0 9 * * *", timeZone: "Europe/Berlin")))
}

@Test func cron_usSpringForward() throws {
    // 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z; 02:xx does not exist that day.
    #expect(try walk("30 2 * * *", tz: "America/New_York", from: "2026-03-07T00:00Z", count: 3) == [
        "2026-03-07T07:30Z", "2026-03-08T07:00Z", "2026-03-09T06:30Z"])
    #expect(try walk("*/15 2 * * *", tz: "America/New_York", from: "2026-03-08T00:00Z", count: 3) == [
        "2026-03-08T07:00Z", "2026-03-09T06:00Z", "2026-03-09T06:15Z"])
    // A schedule time at 03:00 merges with the gap firing instead of firing twice.
    #expect(try walk("0,30 2,3 * * *", tz: "America/New_York", from: "2026-03-08T00:00Z", count: 3) == [
        "2026-03-08T07:00Z", "2026-03-08T07:30Z", "2026-03-09T06:00Z"])
    #expect(try walk("30 * * * *", tz: "America/New_York", from: "2026-03-08T05:00Z", count: 3) == [
        "2026-03-08T05:30Z", "2026-03-08T06:30Z", "2026-03-08T07:00Z"])
}

@Test func cron_usFallBack() throws {
    // 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z; 01:xx happens twice, fire the first.
    #expect(try walk("30 1 * * *", tz: "America/New_York", from: "2026-10-31T12:00Z", count: 2) == [
        "2026-11-01T05:30Z", "2026-11-02T06:30Z"])
    // 01:00 EDT, 01:30 EDT, then the repeated 01:00/01:30 EST are not fired again: 02:00 EST.
    #expect(try walk("*/30 * * * *", tz: "America/New_York", from: "2026-11-01T04:45Z", count: 5) == [
        "2026-11-01T05:00Z", "2026-11-01T05:30Z", "2026-11-01T07:00Z", "2026-11-01T07:30Z", "2026-11-01T08:00Z"])
    // Asked from inside the second pass (01:10 EST): nothing fires until 02:00 EST.
    #expect(try walk("*/30 * * * *", tz: "America/New_York", from: "2026-11-01T06:10Z", count: 1) == ["2026-11-01T07:00Z"])
}

@Test func cron_berlin() throws {
    // 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z; 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z.
    #expect(try walk("30 2 * * *", tz: "Europe/Berlin", from: "2026-03-28T00:00Z", count: 3) == [
        "2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z"])
    #expect(try walk("30 2 * * *", tz: "Europe/Berlin", from: "2026-10-24T12:00Z", count: 2) == [
        "2026-10-25T00:30Z", "2026-10-26T01:30Z"])
}

@Test func cron_lordHoweHalfHourShift() throws {
    // DST ends 2026-04-05 02:00 (+11) -> 01:30 (+10:30) at 2026-04-04T15:00Z.
    #expect(try walk("45 1 * * *", tz: "Australia/Lord_Howe", from: "2026-04-04T00:00Z", count: 2) == [
        "2026-04-04T14:45Z", "2026-04-05T15:15Z"])
    // DST starts 2026-10-04 02:00 (+10:30) -> 02:30 (+11) at 2026-10-03T15:30Z.
    #expect(try walk("15 2 * * *", tz: "Australia/Lord_Howe", from: "2026-10-02T00:00Z", count: 3) == [
        "2026-10-02T15:45Z", "2026-10-03T15:30Z", "2026-10-04T15:15Z"])
}

@Test func cron_wholeYearWalkHasNoDuplicatesOrSkips() throws {
    // Every 15 minutes for local year 2026 in New York: 365 * 96 = 35040 wall times. On Mar 8
    // the gap times 02:00-02:45 and 03:00 EDT all land on 07:00Z: one firing (-4). On Nov 1
    // 01:00-01:45 fire only in the EDT pass, so each wall time still fires once (-0).
    let s = try CronSchedule("*/15 * * * *", timeZone: "America/New_York")
    let end = utc("2027-01-01T05:00Z")
    var t = utc("2026-01-01T04:59Z"), count = 0
    while let n = s.next(after: t), n < end {
        #expect(n > t)
        count += 1
        t = n
    }
    #expect(count == 35_036)
}

// MARK: - Errors

@Test func cron_rejections() {
    let cases: [(String, String?, String)] = [
        ("", nil, "cron expression is empty"),
        ("   ", nil, "cron expression is empty"),
        ("0 0 * * * *", nil, "expected 5 fields (minute hour day-of-month month day-of-week) but got 6; seconds and years fields are not supported"),
        ("0 0 0 * * * 2026", nil, "expected 5 fields (minute hour day-of-month month day-of-week) but got 7; seconds and years fields are not supported"),
        ("0 0 * *", nil, "expected 5 fields (minute hour day-of-month month day-of-week) but got 4"),
        ("61 * * * *", "minute", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week", "day-of-week field: 8 is out of range 0-7"),
        ("0 99999 * * *", "hour", "hour field: 99999 is out of range 0-23"),
        ("*/0 * * * *", "minute", "minute field: step 0 in \"*/0\" is not allowed"),
        ("1-5/0 * * * *", "minute", "minute field: step 0 in \"1-5/0\" is not allowed"),
        ("*/61 * * * *", "minute", "minute field: step 61 in \"*/61\" is larger than the range 0-59"),
        ("*/x * * * *", "minute", "minute field: step \"x\" is not a positive number"),
        ("1/2/3 * * * *", "minute", "minute field: \"1/2/3\" has more than one \"/\""),
        ("30-10 * * * *", "minute", "minute field: range \"30-10\" is reversed (30 > 10)"),
        ("0 0 * * FRI-MON", "day-of-week", "day-of-week field: range \"FRI-MON\" is reversed (5 > 1)"),
        ("1-2-3 * * * *", "minute", "minute field: \"1-2-3\" is not a valid range"),
        ("-5 * * * *", "minute", "minute field: missing value"),
        ("1,,2 * * * *", "minute", "minute field: empty list item in \"1,,2\""),
        ("abc * * * *", "minute", "minute field: \"abc\" is not a number"),
        ("0 0 * FOO *", "month", "month field: \"FOO\" is not a number or a name (JAN-DEC)"),
        ("0 0 * * MONDAY", "day-of-week", "day-of-week field: \"MONDAY\" is not a number or a name (SUN-SAT)"),
        ("0 0 JAN * *", "day-of-month", "day-of-month field: \"JAN\" is not a number"),
        ("0 0 ? * *", "day-of-month", "day-of-month field: \"?\" is not a number"),
        ("0 0 L * *", "day-of-month", "day-of-month field: \"L\" is not a number"),
        ("٣ * * * *", "minute", "minute field: \"٣\" is not a number"),
        ("@reboot", nil, "@reboot is not supported: it means \"at daemon start\" and has no next time"),
        ("@every 5m", nil, "unknown macro \"@every 5m\"; expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"),
        (String(repeating: "1,", count: 128) + "1 * * * *", nil, "cron expression is longer than 256 characters"),
    ]
    for (expr, field, message) in cases {
        let e = error(expr)
        #expect(e == CronScheduleError(message: message, field: field), "\(expr)")
    }
    // 256 characters is still fine.
    let longest = String(repeating: "1,", count: 123) + "10 * * * *"
    #expect(longest.count == 256)
    #expect(error(longest) == nil)
}

@Test func cron_unknownTimeZones() {
    for bogus in ["Bogus/Zone", "", "america/new_york", "Mars/Olympus_Mons", "../etc/passwd"] {
        let e = error("0 0 * * *", tz: bogus)
        #expect(e?.field == "timeZone", "\(bogus)")
        #expect(e?.message == "unknown time zone identifier \"\(bogus)\"; use an IANA name such as \"Europe/Berlin\"")
    }
}

@Test func cron_calendarArithmetic() {
    #expect(CronSchedule.days(year: 1970, month: 1, day: 1) == 0)
    #expect(CronSchedule.days(year: 2000, month: 3, day: 1) == 11_017)
    #expect(CronSchedule.days(year: 1969, month: 12, day: 31) == -1)
    for d in stride(from: -800_000, through: 800_000, by: 997) {
        let c = CronSchedule.civil(fromDays: d)
        #expect(CronSchedule.days(year: c.year, month: c.month, day: c.day) == d)
    }
}
