import AgentRuntime
import Foundation
import Testing

@Suite struct HexTests {
    /// What `String(format: "%02x")` per byte gave, for random bytes of every length up to 64.
    @Test func asTheFormatterWrote() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(bytes.lowercaseHex == bytes.map { String(format: "%02x", $0) }.joined())
        }
        #expect([0x00, 0x0f, 0xa0, 0xff].lowercaseHex == "000fa0ff")
    }
}
