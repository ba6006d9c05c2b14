import Foundation
import Outbound
import Synchronization
import TestSupport
import Testing

/// The outbound policy against stand-ins on loopback. A "public" host is played by a server on 127.0.0.5 that the
/// test's `dial` puts in place of a public address (no test sends a packet to a real public address); the
/// "internal" service that no call may reach is a server on 127.0.0.1 (and ::1) that records every hit.
@Suite(.serialized) struct OutboundTests {
    static let publicAddress = IPAddress("93.184.216.34")!
    static let standInAddress = IPAddress("127.0.0.5")!
    let dial: @Sendable (IPAddress) -> IPAddress = { $0 == OutboundTests.publicAddress ? OutboundTests.standInAddress : $0 }

    // MARK: Addresses in every spelling

    @Test(arguments: [
        "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "0177.0.0.1", "127.255.255.254",
        "[::1]", "::1", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
        "[64:ff9b:1::1]", "[2002:7f00:1::]", "[2002:a00:1::]", "[2002:c0a8:101::1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
        "0.0.0.0", "0", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1",
        "192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.88.99.1", "224.0.0.1", "239.1.2.3",
        "240.0.0.1", "255.255.255.255", "[fe80::1]", "[fe80::1%25lo]", "[fec0::1]", "[fc00::1]", "[fd12:3456::1]",
        "[ff02::1]", "[2001:db8::1]", "[100::1]",
    ])
    func internalSpellings(host: String) async throws {
        let address = try #require(IPAddress(host), "\(host) is an address")
        #expect(address.isInternal, "\(host) = \(address)")
        // Judged as a literal, without asking any resolver, and refused with a reason that names nothing.
        let outbound = Outbound(resolver: { name in Issue.record("resolver asked for \(name)"); return [] })
        let url = "http://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):8080/x"
        await #expect(throws: OutboundError.self) { _ = try await outbound.admit(url, policy: OutboundPolicy()) }
        do {
            _ = try await outbound.admit(url, policy: OutboundPolicy())
        } catch let error as OutboundError {
            #expect(error.kind == .internalAddress)
            #expect(error.reason == "refused: the target is not allowed")
        }
    }

    @Test(arguments: [
        "8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "192.0.3.1", "[2606:4700::1111]", "[::ffff:8.8.8.8]",
        "[64:ff9b::808:808]", "[2002:808:808::]", "[::8.8.8.8]",
    ])
    func publicSpellings(host: String) throws {
        let address = try #require(IPAddress(host))
        #expect(!address.isInternal, "\(host) = \(address)")
    }

    @Test func namesAreNotAddresses() {
        for name in ["example.com", "deadbeef", "localhost", "1.2.3.4.example", "0x", "", "[::1"] {
            #expect(IPAddress(name) == nil, "\(name)")
        }
    }

    @Test func allowListPatterns() {
        #expect(OutboundPolicy.matches("en.wikipedia.org", "*.wikipedia.org"))
        #expect(OutboundPolicy.matches("wikipedia.org", "*.wikipedia.org"))
        #expect(!OutboundPolicy.matches("evilwikipedia.org", "*.wikipedia.org"))
        #expect(!OutboundPolicy.matches("example.com.evil.net", "example.com"))
        // An allowed address matches in every spelling, and only that address.
        #expect(OutboundPolicy.matches("2130706433", "127.0.0.1"))
        #expect(OutboundPolicy.matches("[::1]", "::1"))
        #expect(OutboundPolicy.matches("[::ffff:127.0.0.1]", "127.0.0.1"))
        #expect(!OutboundPolicy.matches("127.0.0.2", "127.0.0.1"))
    }

    @Test func aNameWithAnyInternalAddressIsRefused() async throws {
        let outbound = Outbound(resolver: { _ in [Self.publicAddress, IPAddress("10.0.0.7")!] })
        await #expect(throws: OutboundError(.internalAddress, detail: "mixed.test resolves to 10.0.0.7")) {
            _ = try await outbound.admit("https://mixed.test/", policy: OutboundPolicy())
        }
        // Unless the operator named that host.
        let target = try await outbound.admit("https://mixed.test/", policy: OutboundPolicy(internalAllowed: ["mixed.test"]))
        #expect(target.address == Self.publicAddress)
    }

    @Test func onlyHttpWithoutCredentialsAndOnlyListedHosts() async {
        let outbound = Outbound(resolver: { _ in [Self.publicAddress] })
        for url in ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "gopher://x", "http:///x", "not a url"] {
            await #expect(throws: OutboundError.self, "\(url)") { _ = try await outbound.admit(url, policy: OutboundPolicy()) }
        }
        await #expect(throws: OutboundError(.hostNotAllowed, detail: "other.test is not allowed")) {
            _ = try await outbound.admit("http://other.test/", policy: OutboundPolicy(onlyHosts: ["example.com"]))
        }
    }

    // MARK: Against stand-in servers

    /// The connection goes to the address the policy judged, not to a second lookup of the name: a name that no
    /// system resolver knows still reaches the server at the address our resolver gave, with its name as Host.
    @Test func connectsToTheAddressItChecked() async throws {
        try await withStandIns { port, standIn, inside in
            let outbound = Outbound(resolver: { _ in [Self.publicAddress] }, dial: dial)
            let response = try await outbound.send(.init(url: "http://pinned.invalid:\(port)/hello"), policy: OutboundPolicy())
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "reached 127.0.0.5")
            #expect(standIn.lines == ["GET /hello host=pinned.invalid:\(port)"])
            #expect(inside.lines.isEmpty)
        }
    }

    /// DNS rebinding: a name whose answer flips between a public and a loopback address on every lookup. Of 50
    /// calls (tool-style, following redirects, and webhook-style, not following), none reaches loopback.
    @Test func aNameThatFlipsToLoopbackNeverReachesIt() async throws {
        try await withStandIns { port, standIn, inside in
            let lookups = Atomic<Int>(0)
            let outbound = Outbound(resolver: { _ in
                lookups.wrappingAdd(1, ordering: .relaxed).newValue % 2 == 0 ? [IPAddress("127.0.0.1")!] : [Self.publicAddress]
            }, dial: dial)
            var reached = 0, refused = 0
            for index in 0..<50 {
                let policy = index % 2 == 0 ? OutboundPolicy(redirects: .follow(max: 3)) : OutboundPolicy(redirects: .notFollowed)
                do {
                    _ = try await outbound.send(.init(method: .POST, url: "http://flip.test:\(port)/call/\(index)", body: Array("{}".utf8)),
                                                policy: policy)
                    reached += 1
                } catch let error as OutboundError {
                    #expect(error.kind == .internalAddress)
                    refused += 1
                }
            }
            #expect(inside.lines.isEmpty, "reached loopback: \(inside.lines)")
            #expect(reached + refused == 50)
            #expect(reached > 0 && refused > 0, "the name did flip: \(reached) reached, \(refused) refused")
            #expect(standIn.lines.count == reached)
            #expect(lookups.load(ordering: .relaxed) == 50, "one lookup per call")
        }
    }

    /// A public host answering every redirect status towards internal targets: a follower re-checks each hop and
    /// refuses; a webhook-style caller gets the 3xx itself. Either way nothing internal is reached.
    @Test func redirectsInwardAreNeverFollowed() async throws {
        try await withStandIns { port, standIn, inside in
            let outbound = Outbound(resolver: { name in
                switch name {
                case "public.test": [Self.publicAddress]
                case "localhost": [IPAddress("127.0.0.1")!, IPAddress("::1")!]
                default: [IPAddress("127.0.0.1")!]  // rebind.test: a public-looking name that points inward
                }
            }, dial: dial)
            let targets = ["http://127.0.0.1:\(port)/in", "http://[::1]:\(port)/in", "http://10.1.2.3/in", "http://169.254.169.254/latest",
                           "http://localhost:\(port)/in", "http://2130706433:\(port)/in", "http://127.1:\(port)/in",
                           "http://[::ffff:127.0.0.1]:\(port)/in", "http://rebind.test:\(port)/in"]
            for code in [301, 302, 303, 307, 308] {
                for target in targets {
                    let url = "http://public.test:\(port)/redirect/\(code)?to=\(target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
                    do {
                        _ = try await outbound.send(.init(url: url), policy: OutboundPolicy(redirects: .follow(max: 5)))
                        Issue.record("\(code) to \(target) was followed")
                    } catch let error as OutboundError {
                        // localhost may not resolve on every machine: refused or unresolvable, never reached.
                        #expect([.internalAddress, .unresolvable].contains(error.kind), "\(code) \(target): \(error)")
                    }
                    let webhook = try await outbound.send(.init(method: .POST, url: url), policy: OutboundPolicy(redirects: .notFollowed))
                    #expect(webhook.status == code)
                }
            }
            #expect(inside.lines.isEmpty, "reached: \(inside.lines)")
            #expect(standIn.lines.count == 5 * targets.count * 2)
        }
    }

    /// Credentials go to the host they were meant for: a redirect to another host drops them, to the same keeps them.
    @Test func credentialsAreNotCarriedToAnotherHost() async throws {
        try await withStandIns { port, standIn, _ in
            let outbound = Outbound(resolver: { _ in [Self.publicAddress] }, dial: dial)
            let headers = [("Authorization", "Bearer secret")]
            let policy = OutboundPolicy(redirects: .follow(max: 2))
            let away = "http://first.test:\(port)/redirect/302?to=" + "http://second.test:\(port)/landed".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            _ = try await outbound.send(.init(url: away, headers: headers), policy: policy)
            let home = "http://first.test:\(port)/redirect/302?to=%2Flanded"
            _ = try await outbound.send(.init(url: home, headers: headers), policy: policy)
            #expect(standIn.lines.map { $0.replacingOccurrences(of: ":\(port)", with: "") } == [
                "GET /redirect/302?to=http%3A%2F%2Fsecond%2Etest%3A\(port)%2Flanded host=first.test authorization",
                "GET /landed host=second.test",
                "GET /redirect/302?to=%2Flanded host=first.test authorization",
                "GET /landed host=first.test authorization",
            ])
        }
    }

    @Test func failuresAreGenericForCallersAndDetailedForTheLog() async throws {
        let outbound = Outbound(resolver: { _ in [IPAddress("127.0.0.1")!] })
        // A closed port on an allowed host: the caller learns "could not connect", not the port's state or errno.
        let port = try StandIn.freePort()
        do {
            _ = try await outbound.send(.init(url: "http://intranet.test:\(port)/"), policy: OutboundPolicy(internalAllowed: ["intranet.test"]))
            Issue.record("connected to a closed port")
        } catch let error as OutboundError {
            #expect(error.kind == .connectFailed)
            #expect(error.reason == "failed: could not connect")
            #expect(!error.reason.contains("\(port)") && error.detail.contains("intranet.test"))
        }
    }

    // MARK: Stand-ins

    /// Starts the "public" stand-in on 127.0.0.5 and the "internal" recorders on 127.0.0.1 and ::1, on one port.
    func withStandIns(_ body: (Int, StandIn, StandIn) async throws -> Void) async throws {
        let port = try StandIn.freePort()
        let standIn = try StandIn(address: "127.0.0.5", port: port)
        let inside = try StandIn(address: "127.0.0.1", port: port)
        let internal6 = try StandIn(address: "::1", port: port)
        defer { standIn.stop(); inside.stop(); internal6.stop() }
        try await body(port, standIn, inside)
        #expect(internal6.lines.isEmpty, "reached [::1]: \(internal6.lines)")
    }
}

