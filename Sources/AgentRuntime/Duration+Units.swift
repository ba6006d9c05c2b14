extension Duration {
    /// Whole milliseconds, for logs and JSON.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Nanoseconds, for comparisons with the monotonic clock; negative durations count as zero.
    public var nanoseconds: UInt64 {
        UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds / 1_000_000_000))
    }
}
