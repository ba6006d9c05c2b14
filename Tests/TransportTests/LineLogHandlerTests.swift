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
}
