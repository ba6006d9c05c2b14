@testable import AgentRuntime
import Foundation
import Testing

@Suite(.serialized) struct HTTPGetToolTests {
    func fetch(_ url: String, hosts: [String] = ["127.0.0.1"], allowPrivate: Bool = true, maxBytes: Int = 64 * 1024) async -> String {
        let tool = HTTPGetTool(settings: .init(allowedHosts: hosts, allowPrivateAddresses: allowPrivate, maxBytes: maxBytes))
        do {
            return try await tool.run(["url": .string(url)])
        } catch let error as ToolError {
            return "error: " + error.message
        } catch {
            return "unexpected: \(error)"
        }
    }

    @Test func fetchesFollowsCheckedRedirectsAndTruncates() async throws {
        try await OpenAIProviderTests().withScriptedServer { base in
            let root = base.replacingOccurrences(of: "/v1", with: "")
            #expect(await fetch(root + "/page") == "HTTP 200 text/plain\n\nhello from the page")
            #expect(await fetch(root + "/redirect").hasSuffix("hello from the page"))
            #expect(await fetch(root + "/redirect-out") == "error: refused: the host is not allowed")
            #expect(await fetch(root + "/loop") == "error: refused: too many redirects")
            let big = await fetch(root + "/big", maxBytes: 1000)
            #expect(big.hasSuffix("[truncated at 1000 bytes]"))
            #expect(big.count < 1100)
        }
    }

    /// Refusals read the same to the model whatever the reason behind them: no address, no port state.
    @Test func refusesWhatIsNotAllowed() async {
        #expect(await fetch("http://127.0.0.1:1/x", allowPrivate: false) == "error: refused: the target is not allowed")
        #expect(await fetch("http://2130706433:1/x", hosts: ["example.com"]) == "error: refused: the host is not allowed")
        // An allowed address is allowed in every spelling, and is still internal.
        #expect(await fetch("http://2130706433:1/x", allowPrivate: false) == "error: refused: the target is not allowed")
        #expect(await fetch("http://2130706433:1/x", hosts: ["2130706433"], allowPrivate: false) == "error: refused: the target is not allowed")
        #expect(await fetch("http://localhost:1/x", hosts: ["localhost"], allowPrivate: false) == "error: refused: the target is not allowed")
        #expect(await fetch("http://example.com/") == "error: refused: the host is not allowed")
        #expect(await fetch("ftp://127.0.0.1/x") == "error: refused: not an http(s) URL without credentials")
        #expect(await fetch("http://evil.example.org/", hosts: ["*.example.org"], allowPrivate: false) == "error: failed: the host name did not resolve")
        // Allowed and private, but nothing listens: the model learns only that it could not connect.
        #expect(await fetch("http://127.0.0.1:1/x") == "error: failed: could not connect")
    }
}
