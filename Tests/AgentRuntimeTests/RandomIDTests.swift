import AgentRuntime
import Foundation
import Testing

@Suite struct RandomIDTests {
    /// Version 4 UUIDs in lower case that Foundation parses, none repeated, across more than one refill of the pool.
    @Test func idsAreDistinctVersion4UUIDs() {
        let ids = (0..<1000).map { _ in RandomID.uuid() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.wholeMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/) != nil, "\(id)")
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
        }
        // Every hex digit position varies (a stuck nibble would show as one value in all ids).
        for position in [0, 7, 9, 20, 24, 35] {
            let seen = Set(ids.map { $0[$0.index($0.startIndex, offsetBy: position)] })
            #expect(seen.count > 8, "position \(position): \(seen)")
        }
    }
}
