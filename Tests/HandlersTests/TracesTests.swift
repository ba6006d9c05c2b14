import Testing
@testable import Telemetry

/// W3C `traceparent` as a request brings it: only a well-formed one is continued, and its sampled flag is this
/// server's to set.
@Suite struct TracesTests {
    @Test func aWellFormedTraceparentIsReadAndItsFlagReplaced() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let parsed = try #require(TraceParent(header))
        #expect(parsed.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parsed.parentID == "00f067aa0ba902b7")
        // A client that asks for sampling does not get it when this server's draw says no, and the other way round.
        #expect(parsed.with(sampled: false) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        #expect(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")!.with(sampled: true).hasSuffix("-01"))
        // Other flag bits are the client's.
        #expect(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03")!.with(sampled: false).hasSuffix("-02"))
        #expect(Traces.traceID(of: header) == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func theServersDrawDecidesNotTheClientsFlag() {
        let asked = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let unasked = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        #expect(Traces.decide(asked, ratio: 0, draw: 0)?.hasSuffix("-00") == true)
        #expect(Traces.decide(asked, ratio: 0.25, draw: 0.5)?.hasSuffix("-00") == true)
        #expect(Traces.decide(unasked, ratio: 0.25, draw: 0.1)?.hasSuffix("-01") == true)
        #expect(Traces.decide(unasked, ratio: 1, draw: 0.999)?.hasSuffix("-01") == true)
        // Over many requests asking to be sampled, the share sampled is the ratio's, whatever the trace ids.
        var sampled = 0
        for _ in 0..<10_000 where Traces.decide(asked, ratio: 0.1, draw: Double.random(in: 0..<1))!.hasSuffix("-01") { sampled += 1 }
        #expect((800...1200).contains(sampled), "\(sampled)")
    }

    @Test(arguments: [
        "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ])
    func aMalformedTraceparentStartsANewTrace(_ header: String) {
        #expect(TraceParent(header) == nil)
        #expect(Traces.traceID(of: header) == nil)
    }

    @Test func withoutATracerNothingIsCarried() {
        // This test process bootstraps no tracer: the helpers cost a plain call and give no ids.
        #expect(!Traces.enabled)
        #expect(Traces.traceParent() == nil)
        #expect(Traces.context(traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
    }
}
