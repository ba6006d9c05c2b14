import AgentRuntime
import Glibc
import Handlers
import Logging
import Synchronization

/// The worker process: acceptor threads take FastCGI requests from the listener, answer the cheap ones on
/// the spot and hand the rest to Tasks whose output the I/O loop writes.
final class Server: @unchecked Sendable {
    struct Options {
        var acceptors: Int = 4
        var maxBodyBytes: Int = 1 << 20
        /// Where messages may carry images: under /v1, and the LangGraph routes that start runs.
        var maxMediaBodyBytes: Int = 20 << 20
        var drainTimeout: Duration = .seconds(10)

        func maxBody(for raw: String) -> Int {
            // As the router reads the path: empty segments (a trailing or doubled slash) do not count.
            let path = "/" + raw.split(separator: "/").joined(separator: "/")
            let media = path == "/v1" || path.hasPrefix("/v1/")
                || ["/runs", "/runs/wait", "/runs/stream", "/commands"].contains { path.hasSuffix($0) }
            return media ? max(maxBodyBytes, maxMediaBodyBytes) : maxBodyBytes
        }
    }

    let app: Application
    let listener: Listener
    let options: Options
    let logger: Logger
    let lifecycle: Lifecycle
    private let loop: IOLoop
    private let stopping = Atomic<Bool>(false)
    private let acceptorsRunning = Atomic<Int>(0)
    private var acceptors: [NativeThread] = []
    private var loopThread: NativeThread?

    init(app: Application, listener: Listener, options: Options, lifecycle: Lifecycle, logger: Logger) throws {
        self.app = app
        self.listener = listener
        self.options = options
        self.lifecycle = lifecycle
        self.logger = logger
        self.loop = try IOLoop(logger: logger)
    }

    func start() throws {
        try FastCGI.initialize()
        let loop = self.loop
        loopThread = try NativeThread(name: "fcgi-io") { loop.run() }
        for index in 0..<options.acceptors {
            acceptorsRunning.wrappingAdd(1, ordering: .relaxed)
            acceptors.append(try NativeThread(name: "fcgi-accept-\(index)") { [self] in
                acceptLoop()
                acceptorsRunning.wrappingSubtract(1, ordering: .relaxed)
            })
        }
    }

    /// Stops intake, lets in-flight requests finish up to the drain bound, then cancels what is left.
    /// `onTimeout` runs when the bound passes with requests still in flight, before they are cancelled:
    /// runs stopped there still write their closing events, which the streams reading them then deliver.
    func drainAndStop(onTimeout: () -> Void = {}) {
        let started = monotonicNanoseconds()
        lifecycle.beginDraining()
        // A socket this worker made: no new connection can reach it once its file is gone; the acceptors take what
        // is queued (until the queue has been empty a few milliseconds, at most 1 s) before they stop.
        if listener.createdPath != nil {
            listener.removeFile()
            let deadline = started &+ 1_000_000_000
            var quiet = 0
            while quiet < 3, monotonicNanoseconds() < deadline {
                quiet = listener.hasQueuedConnection ? 0 : quiet + 1
                usleep(2_000)
            }
        }
        stopping.store(true, ordering: .relaxed)
        // Repeated, because a thread may be between its stop check and accept() when a signal lands.
        while acceptorsRunning.load(ordering: .relaxed) > 0 {
            for thread in acceptors { thread.signal(FastCGI.wakeSignal) }
            usleep(5_000)
        }
        for thread in acceptors { thread.join() }
        listener.close()
        let bound = options.drainTimeout.nanoseconds
        logger.info("server.draining", metadata: ["in_flight": "\(loop.activeCount.load(ordering: .relaxed))"])
        while loop.activeCount.load(ordering: .relaxed) > 0, monotonicNanoseconds() &- started < bound {
            usleep(20_000)
        }
        let left = loop.activeCount.load(ordering: .relaxed)
        if left > 0 {
            // Cancelled handlers still get a moment to send a closing event.
            logger.warning("server.drain_timeout", metadata: ["cancelled": "\(left)"])
            onTimeout()
            usleep(200_000)
            loop.send(.cancelAll)
            let grace = monotonicNanoseconds()
            while loop.activeCount.load(ordering: .relaxed) > 0, monotonicNanoseconds() &- grace < 2_000_000_000 {
                usleep(20_000)
            }
        }
        loop.send(.stop)
        loopThread?.join()
        logger.info("server.stopped", metadata: ["drain_ms": "\((monotonicNanoseconds() &- started) / 1_000_000)"])
    }

    private func acceptLoop() {
        while !stopping.load(ordering: .relaxed) {
            let request = FCGIRequest(listenFD: listener.fd)
            guard request.accept() else {
                if stopping.load(ordering: .relaxed) { break }
                logger.warning("transport.accept_failed", metadata: ["errno": "\(errno)"])
                usleep(10_000)
                continue
            }
            handle(request)
        }
    }

    private func handle(_ fcgi: FCGIRequest) {
        var request = RequestBuilder.build(from: fcgi.parameters())
        let dispatch: Application.Dispatch
        let limit = options.maxBody(for: request.path)
        switch fcgi.readBody(limit: limit, expected: RequestBuilder.contentLength(request)) {
        case .failed(let code):
            logger.info("transport.body_read_failed", metadata: ["request.id": "\(request.requestID)", "errno": "\(code)"])
            fcgi.finish()
            return
        case .tooLarge:
            var response = APIError(status: 413, code: "body_too_large",
                                    detail: "The request body is larger than \(limit) bytes.")
                .response(requestID: request.requestID)
            response.headers.add("X-Request-Id", request.requestID)
            dispatch = .immediate(response)
        case .body(let body):
            request.body = body
            fcgi.releaseInput()
            dispatch = app.dispatch(request)
        }
        let isHead = request.method == "HEAD"
        switch dispatch {
        case .immediate(let response):
            if case .bytes(let body) = response.body {
                // Small and complete: written from this thread, as the C responders do.
                var bytes = ResponseHead.serialize(response, contentLength: body.count)
                if !isHead { bytes += body }
                if !fcgi.write(bytes) {
                    logger.debug("transport.write_failed", metadata: ["request.id": "\(request.requestID)"])
                }
                fcgi.finish()
            } else {
                startAsync(fcgi, isHead: isHead) { response }
            }
        case .deferred(let work):
            startAsync(fcgi, isHead: isHead, work)
        }
    }

    private func startAsync(_ fcgi: FCGIRequest, isHead: Bool, _ work: @escaping @Sendable () async -> Response) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        // Belt and braces: writes happen only on writable sockets, but no write may ever hang the loop.
        setsockopt(fcgi.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connection = Connection(id: loop.makeID(), request: fcgi, loop: loop, isHead: isHead)
        loop.adopt(connection)
        connection.attach(Task {
            await connection.send(await work())
        })
    }
}

/// Turns FastCGI parameters into a `Request`.
enum RequestBuilder {
    static func build(from parameters: [(String, String)]) -> Request {
        var request = Request(method: "GET", path: "/")
        var uri = ""
        var headers: [(String, String)] = []
        headers.reserveCapacity(parameters.count)
        for (name, value) in parameters {
            switch name {
            case "REQUEST_METHOD": request.method = value
            case "REQUEST_URI": uri = value
            case "DOCUMENT_URI": if uri.isEmpty { uri = value }
            case "QUERY_STRING": request.query = value
            case "REMOTE_ADDR": request.remoteAddress = value
            case "REQUEST_ID": request.requestID = value
            case "CONTENT_TYPE": if !value.isEmpty { headers.append(("content-type", value)) }
            case "CONTENT_LENGTH": if !value.isEmpty { headers.append(("content-length", value)) }
            default:
                if name.hasPrefix("HTTP_") {
                    headers.append((String(name.dropFirst(5)).lowercased().replacingOccurrences(of: "_", with: "-"), value))
                }
            }
        }
        if let question = uri.firstIndex(of: "?") {
            request.path = String(uri[..<question])
            if request.query.isEmpty { request.query = String(uri[uri.index(after: question)...]) }
        } else if !uri.isEmpty {
            request.path = uri
        }
        if request.requestID.isEmpty { request.requestID = randomRequestID() }
        request.headers = HTTPHeaders(headers)
        return request
    }

    static func contentLength(_ request: Request) -> Int {
        request.headers["content-length"].flatMap(Int.init) ?? 0
    }

    static func randomRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        return String(high, radix: 16).leftPad(16) + String(low, radix: 16).leftPad(16)
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }

    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
