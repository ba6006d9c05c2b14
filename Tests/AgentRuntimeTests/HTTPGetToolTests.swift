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
            #expect(await fetch(root + "/redirect-out") == "error: host 'not-allowed.test' is not on this agent's allow-list")
            #expect(await fetch(root + "/loop") == "error: too many redirects")
            let big = await fetch(root + "/big", maxBytes: 1000)
            #expect(big.hasSuffix("[truncated at 1000 bytes]"))
            #expect(big.count < 1100)
        }
    }

    @Test func refusesWhatIsNotAllowed() async {
        #expect(await fetch("http://127.0.0.1:1/x", allowPrivate: false) == "error: refused: '127.0.0.1' resolves to an internal address (127.0.0.1)")
        #expect(await fetch("http://localhost:1/x", hosts: ["localhost"], allowPrivate: false).hasPrefix("error: refused: 'localhost' resolves to an internal address"))
        #expect(await fetch("http://example.com/") == "error: host 'example.com' is not on this agent's allow-list")
        #expect(await fetch("ftp://127.0.0.1/x") == "error: only http and https URLs are allowed")
        #expect(await fetch("http://evil.example.org/", hosts: ["*.example.org"], allowPrivate: false).hasPrefix("error: cannot resolve"))
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("10.1.2.3", true), ("172.16.0.1", true), ("172.32.0.1", false), ("192.168.1.1", true),
        ("169.254.169.254", true), ("100.64.0.1", true), ("0.0.0.0", true), ("8.8.8.8", false), ("93.184.216.34", false),
        ("::1", true), ("::", true), ("fe80::1", true), ("fd00::1", true), ("::ffff:127.0.0.1", true), ("2606:4700::1111", false),
        ("not-an-address", true),
    ])
    func internalAddresses(address: String, isInternal: Bool) {
        #expect(NetworkAddress.isInternal(address) == isInternal)
    }

    @Test func allowListPatterns() {
        #expect(HTTPGetTool.matches("en.wikipedia.org", "*.wikipedia.org"))
        #expect(HTTPGetTool.matches("wikipedia.org", "*.wikipedia.org"))
        #expect(!HTTPGetTool.matches("evilwikipedia.org", "*.wikipedia.org"))
        #expect(!HTTPGetTool.matches("example.com.evil.net", "example.com"))
    }
}
