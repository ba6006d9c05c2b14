/// Bytes waiting for the client, as the chunks the handler wrote (no copying on the way in).
struct OutboundQueue {
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var headOffset = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(bytes)
        count += bytes.count
    }

    /// Up to `limit` bytes from the front, without removing them.
    func peek(limit: Int) -> [ArraySlice<UInt8>] {
        var slices: [ArraySlice<UInt8>] = []
        var remaining = limit
        var index = head
        var offset = headOffset
        while remaining > 0, index < chunks.count {
            let chunk = chunks[index]
            let take = min(chunk.count - offset, remaining)
            slices.append(chunk[offset..<(offset + take)])
            remaining -= take
            index += 1
            offset = 0
        }
        return slices
    }

    mutating func consume(_ bytes: Int) {
        var remaining = bytes
        count -= bytes
        while remaining > 0 {
            let available = chunks[head].count - headOffset
            if remaining >= available {
                remaining -= available
                head += 1
                headOffset = 0
            } else {
                headOffset += remaining
                remaining = 0
            }
        }
        // Drop sent chunks once they make up most of the array, so memory follows what is pending.
        if head > 16, head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        if count == 0 {
            chunks.removeAll(keepingCapacity: false)
            head = 0
            headOffset = 0
        }
    }
}
