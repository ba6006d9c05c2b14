import HTTPTypes
@testable import Transport
import Handlers
import Testing

@Suite struct ResponseStateTests {
    @Test func normalLife() {
        var state = ResponseState()
        #expect(state.acceptsBody)
        do { let result = state.sendHead(); #expect(result) }
        do { let result = state.sendHead(); #expect(!result) }
        #expect(state.acceptsBody)
        do { let result = state.requestFinish(); #expect(result) }
        #expect(!state.acceptsBody)
        do { let result = state.drained(); #expect(result) }
        #expect(state.phase == .done)
        do { let result = state.abort(); #expect(!result) }
    }

    @Test func abortIsFinalAndStopsWrites() {
        var state = ResponseState()
        _ = state.sendHead()
        do { let result = state.abort(); #expect(result) }
        #expect(!state.acceptsBody)
        do { let result = state.requestFinish(); #expect(!result) }
        do { let result = state.drained(); #expect(!result) }
        do { let result = state.abort(); #expect(!result) }
    }

    @Test func drainedOnlyAfterFinish() {
        var state = ResponseState()
        _ = state.sendHead()
        do { let result = state.drained(); #expect(!result) }
        #expect(state.phase == .streaming)
    }
}

@Suite struct OutboundQueueTests {
    @Test func peekAndConsumeAcrossChunks() {
        var queue = OutboundQueue()
        queue.append([1, 2, 3])
        queue.append([])
        queue.append([4, 5])
        #expect(queue.count == 5)
        #expect(queue.peek(limit: 4).flatMap { Array($0) } == [1, 2, 3, 4])
        queue.consume(2)
        #expect(queue.peek(limit: 10).flatMap { Array($0) } == [3, 4, 5])
        queue.consume(3)
        #expect(queue.isEmpty)
        queue.append([6])
        #expect(queue.peek(limit: 10).flatMap { Array($0) } == [6])
    }

    @Test func manySmallChunksCompact() {
        var queue = OutboundQueue()
        for value in 0..<100 { queue.append([UInt8(value)]) }
        for value in 0..<90 {
            #expect(queue.peek(limit: 1).flatMap { Array($0) } == [UInt8(value)])
            queue.consume(1)
        }
        #expect(queue.count == 10)
        #expect(queue.peek(limit: 100).flatMap { Array($0) } == (90..<100).map { UInt8($0) })
    }
}

@Suite struct ListenAndRequestTests {
    /// The run routes take media-sized bodies however the path is spelled, as the router matches it.
    @Test func bodyLimitsFollowTheRoutedPath() {
        let options = Server.Options(maxBodyBytes: 1_000, maxMediaBodyBytes: 50_000)
        for path in ["/runs/wait", "/runs/wait/", "/runs//wait", "/threads/t/runs/stream//", "/v1/responses", "/threads/t/commands/"] {
            #expect(options.maxBody(for: path) == 50_000, "\(path)")
        }
        for path in ["/threads", "/threads/", "/runs/wait/x", "/v1x", "/assistants"] {
            #expect(options.maxBody(for: path) == 1_000, "\(path)")
        }
    }

    @Test func listenAddresses() throws {
        #expect(try ListenAddress(parsing: "unix:/run/a.sock") == .unix(path: "/run/a.sock"))
        #expect(try ListenAddress(parsing: "/run/a.sock") == .unix(path: "/run/a.sock"))
        #expect(try ListenAddress(parsing: "127.0.0.1:9001") == .tcp(host: "127.0.0.1", port: 9001))
        #expect(try ListenAddress(parsing: ":9001") == .tcp(host: "", port: 9001))
        #expect(throws: TransportError.self) { try ListenAddress(parsing: "localhost") }
        #expect(throws: TransportError.self) { try ListenAddress(parsing: "127.0.0.1:99999") }
    }

    @Test func requestFromParameters() {
        let (request, problem) = RequestBuilder.build(from: [
            ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/runs/stream?x=1&y=a%20b"), ("QUERY_STRING", "x=1&y=a%20b"),
            ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", "12"), ("REMOTE_ADDR", "127.0.0.1"),
            ("REQUEST_ID", "abc"), ("HTTP_X_API_KEY", "k"), ("HTTP_LAST_EVENT_ID", "4"), ("SCRIPT_NAME", ""),
            ("HTTP_BAD NAME", "dropped"), ("HTTP_CONTENT_TYPE", "application/json"), ("HTTP_CONTENT_LENGTH", "12"),
        ])
        #expect(problem == nil)
        #expect(request.method == .post)
        #expect(request.path == "/runs/stream")
        #expect(request.queryItems == ["x": "1", "y": "a b"])
        #expect(request.headers[.contentType] == "application/json")
        #expect(request.headers[.xAPIKey] == "k")
        #expect(request.headers[.lastEventID] == "4")
        #expect(request.headers.count == 4)
        #expect(request.requestID == "abc")
        #expect(RequestBuilder.contentLength(request) == 12)
    }

    @Test func missingRequestIDIsMade() {
        let request = RequestBuilder.build(from: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/ok")]).0
        #expect(request.requestID.count == 32)
        #expect(request.requestID != RequestBuilder.build(from: []).0.requestID)
    }

    @Test func aMethodThatIsNotATokenIsRefused() {
        #expect(RequestBuilder.build(from: [("REQUEST_METHOD", "GE T"), ("REQUEST_URI", "/ok")]).problem?.code == "bad_method")
        #expect(RequestBuilder.build(from: [("REQUEST_METHOD", ""), ("REQUEST_URI", "/ok")]).problem?.code == "bad_method")
        #expect(RequestBuilder.build(from: [("REQUEST_METHOD", "PATCH"), ("REQUEST_URI", "/ok")]).problem == nil)
    }

    /// A control character is refused, not turned into a space: an Idempotency-Key "k\u{1}" must not become "k ".
    @Test func aHeaderValueWithAControlCharacterIsRefused() {
        for value in ["k\u{1}", "a\u{7f}b", "x\0"] {
            let (request, problem) = RequestBuilder.build(from: [("REQUEST_METHOD", "POST"), ("HTTP_IDEMPOTENCY_KEY", value)])
            #expect(problem?.status == 400)
            #expect(problem?.code == "bad_header")
            #expect(problem?.detail.contains("idempotency-key") == true)
            #expect(request.headers[.idempotencyKey] == nil)
        }
        let tab = RequestBuilder.build(from: [("REQUEST_METHOD", "GET"), ("HTTP_USER_AGENT", "a\tb ü")])
        #expect(tab.problem == nil)
        #expect(tab.0.headers[.userAgent] == "a\tb ü")
        // Whitespace around a value is not part of it (what schemathesis sent: "-1" and tabs).
        let padded = RequestBuilder.build(from: [("REQUEST_METHOD", "GET"), ("HTTP_LAST_EVENT_ID", " \t-1\t\t \t"), ("HTTP_ACCEPT", "\t ")])
        #expect(padded.problem == nil)
        #expect(padded.0.headers[.lastEventID] == "-1")
        #expect(padded.0.headers[.accept] == "")
    }

    /// Byte by byte as the old way did it with characters (`lowercased`, `_` to `-`), for every ASCII name.
    @Test func headerNamesFromParameters() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let name = "HTTP_" + String((0..<Int.random(in: 0...24, using: &generator)).map { _ in
                Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &generator)))
            })
            let expected = String(name.dropFirst(5)).lowercased().map { $0 == "_" ? "-" : $0 }
            #expect(RequestBuilder.headerName(cgi: name) == String(expected), "\(name)")
        }
        #expect(RequestBuilder.headerName(cgi: "HTTP_") == "")
        let (request, problem) = RequestBuilder.build(from: [("REQUEST_METHOD", "GET"), ("HTTP_X_REQUEST_ID", "r"),
                                                            ("HTTP_CONTENT_TYPE", "a/b"), ("CONTENT_TYPE", "a/b"), ("HTTP_", "x")])
        #expect(problem == nil)
        #expect(request.headers[HTTPField.Name("x-request-id")!] == "r")
        #expect(request.headers[values: .contentType] == ["a/b"])
        #expect(request.headers.count == 2)
    }

    @Test func headValuesCannotInjectHeaders() {
        let head = ResponseHead.serialize(
            Response(status: 200, headers: [HTTPField.Name("X-A")!: "1\r\nSet-Cookie: evil\0"]), contentLength: 0)
        let text = String(decoding: head, as: UTF8.self)
        #expect(text == "Status: 200 OK\r\nX-A: 1  Set-Cookie: evil\r\nContent-Length: 0\r\n\r\n")
    }
}

@Suite struct FastCGIRecordTests {
    struct Record: Equatable { var type: UInt8; var requestID: Int; var content: [UInt8] }

    /// Reads records as a FastCGI peer does (version, type, id, content length, padding length), checking that each
    /// is whole and that the padding ends it on a multiple of 8.
    static func parse(_ bytes: [UInt8]) -> [Record]? {
        var records: [Record] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 8, bytes[offset] == 1 else { return nil }
            let length = Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
            let padding = Int(bytes[offset + 6])
            guard (8 + length + padding) % 8 == 0, bytes.count - offset >= 8 + length + padding else { return nil }
            records.append(Record(type: bytes[offset + 1], requestID: Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3]),
                                  content: Array(bytes[(offset + 8)..<(offset + 8 + length)])))
            offset += 8 + length + padding
        }
        return records
    }

    /// Random pieces, some past a record's 65,535 bytes: their bytes come back in order, in records no longer than
    /// the limit, and the end records follow only when asked for.
    @Test func piecesComeBackInOrderInWholeRecords() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            let sizes = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                [0, 1, 7, 8, 9, 65_535, 65_536, 140_000].randomElement(using: &generator)! + Int.random(in: 0...3, using: &generator)
            }
            let pieces = sizes.map { size in (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            let end = round % 2 == 0
            let requestID = Int32.random(in: 1...65_535, using: &generator)
            let bytes = FastCGIRecords.encode(pieces.map { $0[...] }, requestID: requestID, end: end)
            let records = try #require(Self.parse(bytes))
            #expect(records.allSatisfy { $0.requestID == Int(requestID) })
            let data = end ? Array(records.dropLast(2)) : records
            #expect(data.allSatisfy { $0.type == 6 && !$0.content.isEmpty && $0.content.count <= 65_535 })
            #expect(data.flatMap(\.content) == pieces.flatMap { $0 })
            #expect(data.count == (sizes.reduce(0, +) + 65_534) / 65_535)
            if end {
                #expect(records.suffix(2) == [Record(type: 6, requestID: Int(requestID), content: []),
                                              Record(type: 3, requestID: Int(requestID), content: [0, 0, 0, 0, 0, 0, 0, 0])])
            }
        }
    }

    @Test func nothingToSendIsNoBytes() {
        #expect(FastCGIRecords.encode([], requestID: 1, end: false).isEmpty)
        #expect(FastCGIRecords.encode([[][...]], requestID: 1, end: false).isEmpty)
        #expect(FastCGIRecords.encode([], requestID: 1, end: true).count == 24)
    }
}
