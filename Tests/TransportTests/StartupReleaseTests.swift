import Foundation
import Glibc
import Testing
@testable import Transport

private nonisolated(unsafe) var marker = 0

private protocol Greeter { func greet() -> String }
private final class English: Greeter { func greet() -> String { "hello" } }

/// `System.releaseStartupPages` in this very process: the code pages go, and everything the loader or the program
/// wrote (relocated pointers behind a protocol witness and a class, a global's value) is as it was. Dropping a private
/// copy would have brought back the file's bytes: a crash here, or a wrong value.
@Suite struct StartupReleaseTests {
    static func residentFileKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssFile:") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }

    @Test func dropsCleanCodePagesAndKeepsWhatWasWritten() throws {
        marker = 42
        let greeters: [any Greeter] = [English()]
        let before = Self.residentFileKiB()
        let released = System.releaseStartupPages()
        let after = Self.residentFileKiB()
        #expect(released.mappedBytes > 1_000_000, "the test binary's code pages, at least")
        #expect(after < before, "RssFile \(before) KiB before, \(after) KiB after")
        #expect(released.keptMappings > 0, "the mappings the loader relocated are left alone")
        #expect(marker == 42)
        #expect(greeters.map { $0.greet() } == ["hello"])
        let decoded = try JSONDecoder().decode([String: Int].self, from: Data(#"{"a": 1}"#.utf8))
        #expect(decoded == ["a": 1])
    }
}
