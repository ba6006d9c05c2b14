#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Random (version 4) UUIDs in lower case: the ids of runs, messages and threads. Foundation's `UUID()` opens, reads
/// and closes /dev/urandom for every one, three system calls each, and a stateless run makes several ids (seen with
/// strace under load); these are cut from one 4 KiB read of the kernel's generator per 256 ids.
public enum RandomID {
    private static let pool = Mutex(Pool())
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    private struct Pool: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }

    public static func uuid() -> String {
        pool.withLock { pool in
            if pool.next == pool.bytes.count {
                pool.bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                pool.next = 0
            }
            let start = pool.next
            pool.next += 16
            return String(unsafeUninitializedCapacity: 36) { text in
                var at = 0
                for index in 0..<16 {
                    var byte = pool.bytes[start + index]
                    // Used bytes are not kept: an id handed out cannot be read back from the pool.
                    pool.bytes[start + index] = 0
                    // Version 4 (random) and the RFC 9562 variant, as UUID() makes them.
                    if index == 6 { byte = (byte & 0x0F) | 0x40 }
                    if index == 8 { byte = (byte & 0x3F) | 0x80 }
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    text[at] = digits[Int(byte >> 4)]
                    text[at + 1] = digits[Int(byte & 0x0F)]
                    at += 2
                }
                return at
            }
        }
    }
}
