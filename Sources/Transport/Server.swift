import HTTPTypes
import Runs
import AgentRuntime
import Foundation
import Glibc
import Handlers
import Logging
import Synchronization

/// The worker process's transport: acceptor threads take FastCGI requests from the listener, answer the cheap ones
/// on the spot and hand the rest to Tasks whose output the I/O loop writes. A `Service` (Server+Drain.swift):
/// `run` starts the threads, and at shutdown drains and stops them.
package final class Server: @unchecked Sendable {
    package struct Options {
        var acceptors: Int = 4
        var maxBodyBytes: Int = 1 << 20
        /// Where messages may carry images: under /v1, and the LangGraph routes that start runs.
        var maxMediaBodyBytes: Int = 20 << 20

        package init(acceptors: Int = 4, maxBodyBytes: Int = 1 << 20, maxMediaBodyBytes: Int = 20 << 20) {
            self.acceptors = acceptors
            self.maxBodyBytes = maxBodyBytes
            self.maxMediaBodyBytes = maxMediaBodyBytes
        }

        func maxBody(for raw: String) -> Int {
            // As the router reads the path: empty segments (a trailing or doubled slash) do not count.
            let path = "/" + raw.split(separator: "/").joined(separator: "/")
            let media = path == "/v1" || path.hasPrefix("/v1/")
                || ["/runs", "/runs/wait", "/runs/stream", "/commands"].contains { path.hasSuffix($0) }
            return media ? max(maxBodyBytes, maxMediaBodyBytes) : maxBodyBytes
        }
    }

    /// What the drain asks of the rest of the process.
    package struct DrainHooks: Sendable {
        /// First, before the socket goes: take no more work from elsewhere (the run queue).
        var stopIntake: @Sendable () -> Void = {}
        /// When the bound passes with requests still in flight, before they are cancelled: runs stopped here still
        /// write their closing events, which the streams reading them then deliver.
        var onTimeout: @Sendable () -> Void = {}

        package init(stopIntake: @escaping @Sendable () -> Void = {}, onTimeout: @escaping @Sendable () -> Void = {}) {
            self.stopIntake = stopIntake
            self.onTimeout = onTimeout
        }
    }

    let app: Application
    let listener: Listener
    let options: Options
    let logger: Logger
    let lifecycle: Lifecycle
    let drain: DrainBound
    let hooks: DrainHooks
    let loop: IOLoop
    let stop = StopFlag()
    /// Set when the socket's file is gone: from then on each accept is announced on `accepted`.
    let draining = Atomic<Bool>(false)
    let accepted = Bell()
    /// Written by `start` and read by the drain, both in `run`'s task.
    var acceptors: [(thread: NativeThread, state: AcceptorState)] = []
    var loopThread: NativeThread?

    package init(app: Application, listener: Listener, options: Options, lifecycle: Lifecycle, drain: DrainBound,
         hooks: DrainHooks = DrainHooks(), logger: Logger) throws {
        self.app = app
        self.listener = listener
        self.options = options
        self.lifecycle = lifecycle
        self.drain = drain
        self.hooks = hooks
        self.logger = logger
        self.loop = try IOLoop(logger: logger)
    }

    func start() throws {
        try FastCGI.initialize()
        let loop = self.loop
        loopThread = try NativeThread(name: "fcgi-io") { loop.run() }
        for index in 0..<options.acceptors {
            let state = AcceptorState()
            let thread = try NativeThread(name: "fcgi-accept-\(index)") { [self] in
                FastCGI.allowWakeSignal()
                acceptLoop(state)
            }
            acceptors.append((thread, state))
        }
    }

    private func acceptLoop(_ state: AcceptorState) {
        // A failed accept is retried after a pause that doubles while accept keeps failing (out of descriptors,
        // say), so a lasting failure neither spins nor floods the log. The pause waits on the stop flag: a drain
        // ends it at once.
        var pause = Duration.milliseconds(10)
        while true {
            let request = FCGIRequest(listenFD: listener.fd)
            // Published before the flag is read, as the drain raises the flag before it reads this: either the drain
            // sees this thread in accept() and signals it, or this thread sees the flag. Only threads in accept() are
            // signalled: one reading a request body would have its read() fail with EINTR.
            state.inAccept.store(true, ordering: .sequentiallyConsistent)
            if stop.isRaised {
                state.inAccept.store(false, ordering: .relaxed)
                break
            }
            let failure: TransportError?
            do { try request.accept(); failure = nil } catch { failure = error }
            state.inAccept.store(false, ordering: .relaxed)
            if let failure {
                if stop.isRaised { break }
                logger.warning("transport.accept_failed", metadata: ["errno": "\(failure.code ?? 0)"])
                if stop.wait(timeout: pause) { break }
                pause = min(pause * 2, .seconds(1))
                continue
            }
            pause = .milliseconds(10)
            if draining.load(ordering: .relaxed) { accepted.ring() }
            handle(request)
        }
    }

    private func handle(_ fcgi: FCGIRequest) {
        let built = RequestBuilder.build(from: fcgi.parameters())
        var request = built.0
        let dispatch: Application.Dispatch
        let limit = options.maxBody(for: request.path)
        if let problem = built.problem {
            // A request HTTP does not allow, refused without its body; the body is still read to its end and dropped:
            // closed with it unread, nginx could fail writing it and answer 502, or cut the answer, instead of this 400.
            if case .failed = fcgi.readBody(limit: 0, expected: 0) {
                fcgi.finish()
                return
            }
            dispatch = .immediate(Self.refusal(problem, requestID: request.requestID))
        } else {
            switch fcgi.readBody(limit: limit, expected: RequestBuilder.contentLength(request)) {
            case .failed(let code):
                logger.info("transport.body_read_failed", metadata: ["request.id": "\(request.requestID)", "errno": "\(code)"])
                fcgi.finish()
                return
            case .tooLarge:
                let problem = APIError(status: 413, code: "body_too_large", detail: "The request body is larger than \(limit) bytes.")
                dispatch = .immediate(Self.refusal(problem, requestID: request.requestID))
            case .body(let body):
                request.body = body
                dispatch = app.dispatch(request)
            }
        }
        // Read to its end: libfcgi's part is over, and an open stream keeps none of its buffers.
        fcgi.releaseLibraryState()
        let isHead = request.method == .head
        switch dispatch {
        case .immediate(let response):
            if case .bytes(let body) = response.body {
                // Small and complete: written from this thread, as the C responders do, with the end records in one write.
                var bytes = ResponseHead.serialize(response, contentLength: body.count)
                if !isHead { bytes += body }
                if !fcgi.answer(bytes) {
                    logger.debug("transport.write_failed", metadata: ["request.id": "\(request.requestID)"])
                }
            } else {
                startAsync(fcgi, isHead: isHead) { response }
            }
        case .deferred(let work):
            startAsync(fcgi, isHead: isHead, work)
        }
    }

    private static func refusal(_ problem: APIError, requestID: String) -> Response {
        var response = problem.response(requestID: requestID)
        response.headers.append(HTTPField(name: .xRequestID, value: requestID))
        return response
    }

    private func startAsync(_ fcgi: FCGIRequest, isHead: Bool, _ work: @escaping @Sendable () async -> Response) {
        // Belt and braces: writes happen only on writable sockets, but no write may ever hang the loop.
        try? System.setSocketOption(fcgi.fd, SOL_SOCKET, SO_SNDTIMEO, timeval(tv_sec: 5, tv_usec: 0))
        let connection = Connection(id: loop.makeID(), request: fcgi, loop: loop, isHead: isHead)
        loop.adopt(connection)
        let pending = PendingWork(work)
        connection.attach(Task {
            let prepared = await Connection.prepare(pending, isHead: isHead)
            if case .stream = prepared, !isHead {
                // The body in a task of its own, and this one ends: a task keeps every allocator slab its deepest call
                // needed until it ends, and the handler's calls (decoding, validation, planning a run: a stored run's
                // take 15 KiB) go deeper than what the body holds while it waits.
                connection.handOver(to: Task { await connection.send(prepared) })
                return
            }
            await connection.send(prepared)
        })
    }
}

/// Turns FastCGI parameters into a `Request`.
enum RequestBuilder {
    /// The request, and what makes it one HTTP does not allow: a method that is not a token, or a header value with
    /// control characters (nginx passes those on). Refused, not cleaned: a key or an id must not change on the way.
    static func build(from parameters: [(String, String)]) -> (Request, problem: APIError?) {
        var request = Request(method: .get, path: "/")
        var problem: APIError?
        var uri = ""
        var headers = HTTPFields()
        headers.reserveCapacity(parameters.count)
        func add(_ name: String, _ raw: String) {
            // nginx sends only names of letters, digits and hyphens; anything else could not be a field name.
            guard let name = HTTPField.Name(name) else { return }
            let value = trimmingWhitespace(raw)
            guard HTTPField.isValidValue(value) else {
                problem = problem ?? APIError(status: 400, code: "bad_header",
                                              detail: "The \(name.rawName.prefix(64)) header has characters HTTP does not allow in a value.")
                return
            }
            headers.append(HTTPField(name: name, value: value))
        }
        for (name, value) in parameters {
            // Most parameters are headers: they skip the comparisons below.
            if name.utf8.starts(with: "HTTP_".utf8) {
                // nginx sends these twice, as CGI's own and as HTTP_*: one field each, or a reader would see "a, a".
                if name == "HTTP_CONTENT_TYPE" || name == "HTTP_CONTENT_LENGTH" { continue }
                add(headerName(cgi: name), value)
                continue
            }
            switch name {
            case "REQUEST_METHOD":
                if let method = HTTPRequest.Method(value) {
                    request.method = method
                } else {
                    problem = APIError(status: 400, code: "bad_method", detail: "The request method is not an HTTP token.")
                }
            case "REQUEST_URI": uri = value
            case "DOCUMENT_URI": if uri.isEmpty { uri = value }
            case "QUERY_STRING": request.query = value
            case "REMOTE_ADDR": request.remoteAddress = value
            case "REQUEST_ID": request.requestID = value
            case "CONTENT_TYPE": if !value.isEmpty { add("content-type", value) }
            case "CONTENT_LENGTH": if !value.isEmpty { add("content-length", value) }
            default: break
            }
        }
        if let question = uri.firstIndex(of: "?") {
            request.path = String(uri[..<question])
            if request.query.isEmpty { request.query = String(uri[uri.index(after: question)...]) }
        } else if !uri.isEmpty {
            request.path = uri
        }
        if request.requestID.isEmpty { request.requestID = randomRequestID() }
        request.headers = headers
        return (request, problem)
    }

    /// `HTTP_X_REQUEST_ID` as `x-request-id`: nginx makes the parameter from the field name in capitals, with
    /// underscores for hyphens. Bytes, not characters: a name is ASCII or is not a field name at all.
    static func headerName(cgi name: String) -> String {
        guard name.utf8.count > 5 else { return "" }
        var name = name
        return name.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count - 5) { out in
                for (index, byte) in bytes.dropFirst(5).enumerated() {
                    out[index] = switch byte {
                    case UInt8(ascii: "_"): UInt8(ascii: "-")
                    case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
                    default: byte
                    }
                }
                return bytes.count - 5
            }
        }
    }

    /// Spaces and tabs around a field value are not part of it (RFC 9110 5.5); nginx passes tabs on.
    static func trimmingWhitespace(_ value: String) -> String {
        let utf8 = value.utf8
        guard let first = utf8.first, let last = utf8.last,
              first == 32 || first == 9 || last == 32 || last == 9 else { return value }
        var start = utf8.startIndex, end = utf8.endIndex
        while start < end, utf8[start] == 32 || utf8[start] == 9 { start = utf8.index(after: start) }
        while end > start, utf8[utf8.index(before: end)] == 32 || utf8[utf8.index(before: end)] == 9 { end = utf8.index(before: end) }
        return String(value[start..<end])
    }

    static func contentLength(_ request: Request) -> Int {
        request.headers[.contentLength].flatMap(Int.init) ?? 0
    }

    static func randomRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        return String(high, radix: 16).leftPad(16) + String(low, radix: 16).leftPad(16)
    }
}

/// Whether an acceptor thread is blocked in accept() (or about to be), for the drain's wake signal.
final class AcceptorState: Sendable {
    let inAccept = Atomic<Bool>(false)
}

/// Whether the acceptors are to stop: read by each before every accept, and waited on by one that pauses after a
/// failed accept, so that a stop wakes it at once rather than after its pause. Sequentially consistent, as the
/// acceptors' `inAccept` is: each side writes its own and then reads the other's.
final class StopFlag: @unchecked Sendable {
    private let raised = Atomic<Bool>(false)
    private let condition = NSCondition()

    var isRaised: Bool { raised.load(ordering: .sequentiallyConsistent) }

    func raise() {
        condition.lock()
        raised.store(true, ordering: .sequentiallyConsistent)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until raised or `timeout` has passed; true if raised.
    func wait(timeout: Duration) -> Bool {
        let until = Date(timeIntervalSinceNow: Double(timeout.nanoseconds) / 1e9)
        condition.lock()
        defer { condition.unlock() }
        while !isRaised, condition.wait(until: until) {}
        return isRaised
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
