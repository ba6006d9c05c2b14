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
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line: String
        if json {
            line = "{\"ts\":\"\(Self.timestamp())\",\"level\":\"\(event.level)\",\"msg\":\(Self.jsonString("\(event.message)"))"
            for key in merged.keys.sorted() {
                line += ",\(Self.jsonString(key)):\(Self.jsonString("\(merged[key]!)"))"
            }
            line += "}"
        } else {
            line = "\(Self.timestamp()) \(event.level) \(event.message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(Self.quote("\(merged[key]!)"))"
            }
        }
        line += "\n"
        System.writeStandardError(line)
    }

    static func jsonString(_ value: String) -> String { value.jsonQuoted }

    static func quote(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
            return value
        }
        let escaped = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
        return "\"\(escaped)\""
    }

    static func timestamp() -> String {
        let now = System.wallClock()
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
