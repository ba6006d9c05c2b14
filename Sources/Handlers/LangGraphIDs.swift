import Crypto
import Foundation

/// The ids LangGraph gives what it numbers (tasks, node, model and tool runs, checkpoints), for a run rendered from
/// its log. A reader re-renders the log from its start and `Last-Event-ID` skips frames by count, so every id is
/// derived from the run (its id, attempt, step and node, and its creation time), never drawn at random: the same log
/// gives the same ids on every read and every worker.
enum LangGraphID {
    /// RFC 9562's URL namespace; the names below start with `agentfcgi:langgraph`, so they cannot meet another's.
    private static let namespace: [UInt8] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8]

    /// A name-based UUID (version 5: SHA-1 of the namespace and the name) of the parts, which are joined with a
    /// control character no id can hold (ids from clients are refused with one), so different parts never give one name.
    static func named(_ parts: [String]) -> String {
        format(version5(parts))
    }

    /// A checkpoint id shaped as LangGraph's (version 6, time-ordered, e.g. `1f1ec4b3-651f-6d88-8000-…`): the time is
    /// the run's creation (in milliseconds) plus 100 ns ticks for the attempt and the step, the rest comes from the
    /// name. A run's later checkpoints sort after its earlier ones, and a later run's after both, as LangGraph's do.
    static func checkpoint(createdAt: Date, attempt: Int, step: Int, parts: [String]) -> String {
        // 100 ns ticks from the Gregorian epoch (1582-10-15) to the Unix epoch.
        let gregorianOffset: UInt64 = 0x01B2_1DD2_1381_4000
        let milliseconds = UInt64(max(0, (createdAt.timeIntervalSince1970 * 1000).rounded()))
        let ticks = gregorianOffset &+ milliseconds &* 10_000 &+ UInt64(max(0, attempt - 1) * 1_000 + step + 1) % 10_000
        var bytes = version5(parts)
        let timeHigh = UInt32(truncatingIfNeeded: ticks >> 28)
        let timeMid = UInt16(truncatingIfNeeded: ticks >> 12)
        let timeLow = UInt16(truncatingIfNeeded: ticks & 0xFFF) | 0x6000
        for index in 0..<4 { bytes[index] = UInt8(truncatingIfNeeded: timeHigh >> (24 - 8 * index)) }
        (bytes[4], bytes[5]) = (UInt8(timeMid >> 8), UInt8(truncatingIfNeeded: timeMid))
        (bytes[6], bytes[7]) = (UInt8(timeLow >> 8), UInt8(truncatingIfNeeded: timeLow))
        // bytes[8...] keep the hash with RFC 9562's variant bits, set by `version5`.
        return format(bytes)
    }

    private static func version5(_ parts: [String]) -> [UInt8] {
        let name = (["agentfcgi:langgraph"] + parts).joined(separator: "\u{1F}")
        var bytes = Array(Insecure.SHA1.hash(data: namespace + Array(name.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return bytes
    }

    private static func format(_ bytes: [UInt8]) -> String {
        let hex = bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}
