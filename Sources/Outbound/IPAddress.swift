import Glibc

/// A resolved address, as bytes: what an outbound call connects to, and what the policy judges. Judging bytes,
/// never the text of a URL, is what makes every spelling of an address (`127.1`, `0x7f000001`, `2130706433`,
/// `[::ffff:127.0.0.1]`, `[64:ff9b::7f00:1]`, ...) the same address to the policy.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    /// Numeric text only (no name lookups): IPv6 with or without brackets and zone, and IPv4 in every form the
    /// system's resolver reads as an address (`127.0.0.1`, `127.1`, `0x7f000001`, `017700000001`, `2130706433`).
    public init?(_ text: String) {
        var bare = text
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        if let zone = bare.firstIndex(of: "%") { bare = String(bare[..<zone]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
            return
        }
        // inet_aton's forms, as getaddrinfo accepts them for a "name": judged here, never by a lookup.
        guard !bare.isEmpty, bare.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X" }),
              bare.first?.isNumber == true, inet_aton(bare, &v4) != 0 else { return nil }
        self = .v4(UInt32(bigEndian: v4.s_addr))
    }

    /// From a `sockaddr` that getaddrinfo returned.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            self = .v4(UInt32(bigEndian: v4))
        case AF_INET6:
            let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return [24, 16, 8, 0].map { String((value >> $0) & 0xff) }.joined(separator: ".")
        case .v6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// An IPv4-mapped IPv6 address as the IPv4 address it is; any other address as it is.
    public var unmapped: IPAddress {
        if case .v6(let b) = self, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff {
            return .v4(b[12...].reduce(0) { $0 << 8 | UInt32($1) })
        }
        return self
    }

    /// How a URL names this address (IPv6 in brackets).
    public var urlHost: String {
        if case .v6 = self { return "[\(description)]" }
        return description
    }

    /// Loopback, private, link-local, CGNAT, TEST-NET, benchmarking, multicast, reserved or unspecified, in any
    /// IPv4 or IPv6 form: an address that an outside-facing call must not reach unless the operator named its host.
    public var isInternal: Bool {
        switch self {
        case .v4(let value):
            return Self.isInternalV4(value)
        case .v6(let b):
            func v4(at index: Int) -> UInt32 { b[index..<index + 4].reduce(0) { $0 << 8 | UInt32($1) } }
            if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff { return Self.isInternalV4(v4(at: 12)) } // ::ffff:a.b.c.d mapped
            if b[0..<12].allSatisfy({ $0 == 0 }) {                                     // ::a.b.c.d compatible, ::, ::1
                let embedded = v4(at: 12)
                return embedded <= 1 || Self.isInternalV4(embedded)
            }
            if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b {
                if b[4..<12].allSatisfy({ $0 == 0 }) { return Self.isInternalV4(v4(at: 12)) } // 64:ff9b::/96 NAT64
                return true                                                            // 64:ff9b:1::/48 local NAT64
            }
            if b[0] == 0 { return true }                                               // the rest of ::/8, reserved
            if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return true } // 100::/64 discard
            if b[0] == 0x20, b[1] == 0x02 { return Self.isInternalV4(v4(at: 2)) }       // 2002::/16 6to4
            if b[0] == 0x20, b[1] == 0x01, b[2] == 0, b[3] == 0 {                      // 2001::/32 Teredo
                return Self.isInternalV4(v4(at: 4)) || Self.isInternalV4(~v4(at: 12))
            }
            if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0d, b[3] == 0xb8 { return true }   // 2001:db8::/32 documentation
            if b[0] & 0xfe == 0xfc { return true }                                     // fc00::/7 unique local
            if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return true }                       // fe80::/10 link-local
            if b[0] == 0xfe, b[1] & 0xc0 == 0xc0 { return true }                       // fec0::/10 site-local (old)
            if b[0] == 0xff { return true }                                            // ff00::/8 multicast
            return false
        }
    }

    static let internalV4: [(base: UInt32, bits: UInt32)] = [
        (0x0000_0000, 8),   // 0.0.0.0/8 "this network", unspecified
        (0x0A00_0000, 8),   // 10/8 private
        (0x6440_0000, 10),  // 100.64/10 CGNAT
        (0x7F00_0000, 8),   // 127/8 loopback
        (0xA9FE_0000, 16),  // 169.254/16 link-local (cloud metadata)
        (0xAC10_0000, 12),  // 172.16/12 private
        (0xC000_0000, 24),  // 192.0.0/24 IETF protocol assignments
        (0xC000_0200, 24),  // 192.0.2/24 TEST-NET-1
        (0xC058_6300, 24),  // 192.88.99/24 6to4 relay anycast
        (0xC0A8_0000, 16),  // 192.168/16 private
        (0xC612_0000, 15),  // 198.18/15 benchmarking
        (0xC633_6400, 24),  // 198.51.100/24 TEST-NET-2
        (0xCB00_7100, 24),  // 203.0.113/24 TEST-NET-3
        (0xE000_0000, 4),   // 224/4 multicast
        (0xF000_0000, 4),   // 240/4 reserved, and 255.255.255.255 broadcast
    ]

    static func isInternalV4(_ address: UInt32) -> Bool {
        internalV4.contains { address >> (32 - $0.bits) == $0.base >> (32 - $0.bits) }
    }
}
