import AgentRuntime
import Glibc
import Logging
import Transport

/// One line per event on stderr: UTC time with milliseconds, level, message, then sorted `key=value` pairs; or, with
/// `json`, one JSON object (`ts`, `level`, `msg`, then the same keys). Each line is one write(2), so lines from
/// threads and worker processes sharing a file do not interleave. The metadata provider adds the trace's ids.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level
    var json = false
    var metadataProvider: Logger.MetadataProvider?
    /// Metadata set as a whole, and the pairs set one by one after it (the worker's name, then each request's and
    /// each run's ids), in order, nil for one removed. A logger is copied for every request and again for its run, and
    /// an open stream keeps its run's: adding a pair copies this short list, where a dictionary was copied and grown
    /// (about 600 bytes an open stream held).
    private var whole: Logger.Metadata = [:]
    private var pairs: [(key: String, value: Logger.Metadata.Value?)] = []

    var metadata: Logger.Metadata {
        get {
            guard !pairs.isEmpty else { return whole }
            var merged = whole
            for (key, value) in pairs { merged[key] = value }
            return merged
        }
        set {
            whole = newValue
            pairs = []
        }
    }

    init(logLevel: Logger.Level, json: Bool = false, metadataProvider: Logger.MetadataProvider? = nil) {
        self.logLevel = logLevel
        self.json = json
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get {
            if let index = pairs.lastIndex(where: { $0.key == key }) { return pairs[index].value }
            return whole[key]
        }
        set {
            if let index = pairs.firstIndex(where: { $0.key == key }) {
                pairs[index].value = newValue
            } else {
                pairs.append((key, newValue))
            }
        }
    }

    func log(event: LogEvent) {
        let line = Self.line(level: event.level, message: "\(event.message)", pairs: mergedPairs(event.metadata), json: json,
                             at: System.wallClock())
        line.withUnsafeBytes { System.writeStandardError($0) }
    }

    /// The event's pairs, sorted by key: the handler's, then the provider's, then the event's own, a later one winning.
    func mergedPairs(_ extra: Logger.Metadata?) -> [(key: String, value: Logger.Metadata.Value)] {
        let provided = metadataProvider?.get()
        var merged: [(key: String, value: Logger.Metadata.Value)] = []
        merged.reserveCapacity(whole.count + pairs.count + (provided?.count ?? 0) + (extra?.count ?? 0))
        func set(_ key: String, _ value: Logger.Metadata.Value?) {
            if let index = merged.firstIndex(where: { $0.key == key }) {
                if let value { merged[index].value = value } else { merged.remove(at: index) }
            } else if let value {
                merged.append((key, value))
            }
        }
        for (key, value) in whole { merged.append((key, value)) }
        for (key, value) in pairs { set(key, value) }
        for (key, value) in provided ?? [:] { set(key, value) }
        for (key, value) in extra ?? [:] { set(key, value) }
        merged.sort { $0.key < $1.key }
        return merged
    }

    /// One line, built as bytes: a log line per run was a tenth of a worker's CPU under `/runs/wait` load when it was
    /// built as a String through a dictionary and Character-wise searches (bench/README.md).
    static func line(level: Logger.Level, message: String, pairs: [(key: String, value: Logger.Metadata.Value)], json: Bool,
                     at time: timespec) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(128 + message.utf8.count + pairs.count * 32)
        if json {
            line.append(contentsOf: #"{"ts":""#.utf8)
            appendTimestamp(time, to: &line)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: level.rawValue.utf8)
            line.append(contentsOf: #"","msg":"#.utf8)
            JSONQuoting.appendQuoted(message, to: &line)
            for (key, value) in pairs {
                line.append(UInt8(ascii: ","))
                JSONQuoting.appendQuoted(key, to: &line)
                line.append(UInt8(ascii: ":"))
                JSONQuoting.appendQuoted(text(value), to: &line)
            }
            line.append(UInt8(ascii: "}"))
        } else {
            appendTimestamp(time, to: &line)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: level.rawValue.utf8)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: message.utf8)
            for (key, value) in pairs {
                line.append(UInt8(ascii: " "))
                line.append(contentsOf: key.utf8)
                line.append(UInt8(ascii: "="))
                appendQuoted(text(value), to: &line)
            }
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    private static func text(_ value: Logger.Metadata.Value) -> String {
        if case .string(let string) = value { return string }
        return "\(value)"
    }

    /// logfmt: a value as it is, or in double quotes when it is empty or holds a space, a quote, '=' or a line break
    /// (the line breaks `Character.isNewline` names), with backslashes, quotes and line feeds escaped. A carriage
    /// return becomes `\r`, so that no value ends a line.
    static func appendQuoted(_ value: String, to line: inout [UInt8]) {
        let bytes = value.utf8
        var plain = !bytes.isEmpty
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in bytes where plain {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\""), UInt8(ascii: "="), 0x0A...0x0D: plain = false
            // U+0085 (C2 85), U+2028 and U+2029 (E2 80 A8, E2 80 A9).
            case 0x85 where previous.1 == 0xC2: plain = false
            case 0xA8 where previous == (0xE2, 0x80), 0xA9 where previous == (0xE2, 0x80): plain = false
            default: break
            }
            previous = (previous.1, byte)
        }
        if plain {
            line.append(contentsOf: bytes)
            return
        }
        line.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\""): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\n"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    /// `2026-12-02T14:05:09.123Z` (UTC, milliseconds).
    static func appendTimestamp(_ now: timespec, to line: inout [UInt8]) {
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) {
            var divisor: Int32 = 1
            for _ in 1..<width { divisor *= 10 }
            var value = max(0, value)
            // A wider number than `width` is written whole, as the String padding did.
            while value / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(value / divisor))
                value %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        line.append(UInt8(ascii: "-")); digits(parts.tm_mon + 1, 2)
        line.append(UInt8(ascii: "-")); digits(parts.tm_mday, 2)
        line.append(UInt8(ascii: "T")); digits(parts.tm_hour, 2)
        line.append(UInt8(ascii: ":")); digits(parts.tm_min, 2)
        line.append(UInt8(ascii: ":")); digits(parts.tm_sec, 2)
        line.append(UInt8(ascii: ".")); digits(Int32(now.tv_nsec / 1_000_000), 3)
        line.append(UInt8(ascii: "Z"))
    }
}
