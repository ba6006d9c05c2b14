extension Sequence<UInt8> {
    /// Two lower-case hex digits a byte. `String(format: "%02x")` per byte, what this replaces, went through
    /// Foundation's formatter for each: 32 of them were 8% of an authenticated request's CPU.
    public var lowercaseHex: String {
        let bytes = Array(self)
        return String(unsafeUninitializedCapacity: bytes.count * 2) { text in
            for (index, byte) in bytes.enumerated() {
                text[2 * index] = hexDigits[Int(byte >> 4)]
                text[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
            }
            return bytes.count * 2
        }
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
