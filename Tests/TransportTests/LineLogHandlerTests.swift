import Foundation
import Glibc
import Logging
import Testing
@testable import AgentFCGI

/// `--log-format json`: each line one JSON object that a log shipper can parse, whatever the message holds.
@Suite struct LineLogHandlerTests {
    @Test func jsonStringsEscapeWhatJSONRequires() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{07} é 🙂"
        let encoded = awkward.jsonQuoted
        let decoded = try JSONDecoder().decode(String.self, from: Data(encoded.utf8))
        #expect(decoded == awkward)
        #expect(!encoded.contains("\n"))
    }

    @Test func logfmtQuotesValuesWithSpacesOrQuotes() {
        #expect(Self.quoted("plain") == "plain")
        #expect(Self.quoted("two words") == "\"two words\"")
        #expect(Self.quoted("a\"b\nc") == "\"a\\\"b\\nc\"")
    }

    static func quoted(_ value: String) -> String {
        var bytes: [UInt8] = []
        LineLogHandler.appendQuoted(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Pairs set one by one and metadata set whole read back as a dictionary would: the last value wins, nil removes,
    /// and a copy's changes stay in the copy.
    @Test func metadataReadsBackAsADictionaryWould() {
        var handler = LineLogHandler(logLevel: .info)
        handler[metadataKey: "worker"] = "1"
        var request = handler
        request[metadataKey: "request.id"] = "r1"
        request[metadataKey: "worker"] = "2"
        #expect(request.metadata == ["worker": "2", "request.id": "r1"])
        #expect(handler.metadata == ["worker": "1"])
        #expect(request[metadataKey: "worker"] == "2")
        request[metadataKey: "request.id"] = nil
        #expect(request[metadataKey: "request.id"] == nil)
        #expect(request.metadata == ["worker": "2"])
        request.metadata = ["a": "b"]
        #expect(request[metadataKey: "worker"] == nil)
        #expect(request[metadataKey: "a"] == "b")
        request[metadataKey: "a"] = "c"
        #expect(request.metadata == ["a": "c"])
    }

    /// The line built as bytes is the line the String-built version made (kept here as the reference), over random
    /// messages, pairs and times, in both formats. Carriage returns and combining marks are left out of the alphabet:
    /// there the String version went by Characters and left them unescaped (`carriageReturnsAreEscaped`).
    @Test func bytesMatchTheStringBuiltLine() {
        var random = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "Z", "0", " ", "\"", "=", "\\", "\n", "\t", "\u{0B}", "\u{0C}", "\u{07}", "\u{85}",
                                  "\u{2028}", "\u{2029}", "é", "🙂", "{", ",", ":", "-", "\u{1F}"]
        func text(_ most: Int) -> String {
            (0..<Int.random(in: 0...most, using: &random)).map { _ in alphabet.randomElement(using: &random)! }.joined()
        }
        for round in 0..<2_000 {
            var pairs: Logger.Metadata = [:]
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                let key = text(6).isEmpty ? "k" : "k" + text(6)
                switch Int.random(in: 0...3, using: &random) {
                case 0: pairs[key] = .stringConvertible(Int.random(in: -5...500, using: &random))
                case 1: pairs[key] = .array([.string(text(4)), .string(text(3))])
                default: pairs[key] = .string(text(12))
                }
            }
            let message = text(20)
            let time = timespec(tv_sec: Int.random(in: 0...4_000_000_000, using: &random), tv_nsec: Int.random(in: 0..<1_000_000_000, using: &random))
            let level = Logger.Level.allCases.randomElement(using: &random)!
            for json in [false, true] {
                let sorted = pairs.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
                let bytes = LineLogHandler.line(level: level, message: message, pairs: sorted, json: json, at: time)
                let expected = Self.stringBuilt(level: level, message: message, merged: pairs, json: json, at: time)
                #expect(String(decoding: bytes, as: UTF8.self) == expected, "round \(round), json \(json)")
                if String(decoding: bytes, as: UTF8.self) != expected { return }
            }
        }
    }

    @Test func carriageReturnsAreEscaped() {
        #expect(Self.quoted("a\r\nb") == #""a\r\nb""#)
        #expect(Self.quoted("\"\u{301}") == #""\"\#u{301}""#)
        let line = LineLogHandler.line(level: .info, message: "m", pairs: [("k", .string("x\ry"))], json: false, at: timespec())
        #expect(!line.dropLast().contains(UInt8(ascii: "\r")) && !line.dropLast().contains(UInt8(ascii: "\n")))
    }

    @Test func metadataMergesWithTheLaterWinning() {
        var handler = LineLogHandler(logLevel: .info, metadataProvider: .init { ["trace": "t", "b": "provided"] })
        handler.metadata = ["b": "whole", "c": "whole"]
        handler[metadataKey: "a"] = "pair"
        handler[metadataKey: "c"] = nil
        let line = String(decoding: LineLogHandler.line(level: .info, message: "m", pairs: handler.mergedPairs(["a": "event"]),
                                                        json: false, at: timespec()), as: UTF8.self)
        #expect(line == "1970-01-01T00:00:00.000Z info m a=event b=provided trace=t\n")
    }

    /// The line as it was built before, as a String (2026-12-02).
    static func stringBuilt(level: Logger.Level, message: String, merged: Logger.Metadata, json: Bool, at now: timespec) -> String {
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let timestamp = "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
        func quote(_ value: String) -> String {
            guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
                return value
            }
            let escaped = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
            return "\"\(escaped)\""
        }
        func jsonQuoted(_ value: String) -> String {
            var quoted = "\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": quoted += "\\\""
                case "\\": quoted += "\\\\"
                case "\n": quoted += "\\n"
                case "\r": quoted += "\\r"
                case "\t": quoted += "\\t"
                case _ where scalar.value < 0x20: quoted += "\\u" + ("000" + String(scalar.value, radix: 16)).suffix(4)
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return quoted + "\""
        }
        var line: String
        if json {
            line = "{\"ts\":\"\(timestamp)\",\"level\":\"\(level)\",\"msg\":\(jsonQuoted(message))"
            for key in merged.keys.sorted() {
                line += ",\(jsonQuoted(key)):\(jsonQuoted("\(merged[key]!)"))"
            }
            line += "}"
        } else {
            line = "\(timestamp) \(level) \(message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(quote("\(merged[key]!)"))"
            }
        }
        return line + "\n"
    }
}
