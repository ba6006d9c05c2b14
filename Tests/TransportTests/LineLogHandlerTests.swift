import Foundation
import Logging
import Testing
@testable import AgentFCGI

/// `--log-format json`: each line one JSON object that a log shipper can parse, whatever the message holds.
@Suite struct LineLogHandlerTests {
    @Test func jsonStringsEscapeWhatJSONRequires() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{07} é 🙂"
        let encoded = LineLogHandler.jsonString(awkward)
        let decoded = try JSONDecoder().decode(String.self, from: Data(encoded.utf8))
        #expect(decoded == awkward)
        #expect(!encoded.contains("\n"))
    }

    @Test func logfmtQuotesValuesWithSpacesOrQuotes() {
        #expect(LineLogHandler.quote("plain") == "plain")
        #expect(LineLogHandler.quote("two words") == "\"two words\"")
        #expect(LineLogHandler.quote("a\"b\nc") == "\"a\\\"b\\nc\"")
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
}
