import AgentRuntime
import Benchmark
import Foundation
import Handlers
import HTTPTypes
import Logging

// The in-process cost of what a worker does per request, without FastCGI or nginx: routing and `GET /ok`; decoding,
// validating, running (the built-in echo model, no token delay) and encoding `POST /runs/wait`; the same run streamed
// as SSE frames. Each iteration is one request through `Application.respond`, as the transport calls it.

/// Takes the streamed bytes and drops them, counting them so that nothing is optimized away.
final class DiscardingWriter: ResponseBodyWriter {
    func write(_ bytes: [UInt8]) async throws { blackHole(bytes.count) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // CPU time is counted in 10 ms ticks on Linux: per request, the wall clock of this single-threaded loop says more.
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        maxDuration: .seconds(5), maxIterations: 100_000)

    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let catalog = AgentCatalog(agents: [AgentDefinition(id: "echo", model: ModelSettings(tokenDelay: .zero))])
    let app = makeApp(Dependencies(catalog: catalog, logger: logger))
    let ok = Request(method: .get, path: "/ok", requestID: "bench")
    let run = Array(#"{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"the quick brown fox jumps over the lazy dog"}]}}"#.utf8)
    let wait = Request(method: .post, path: "/runs/wait", headers: [.contentType: "application/json"], requestID: "bench", body: run)
    let stream = Request(method: .post, path: "/runs/stream", headers: [.contentType: "application/json"], requestID: "bench", body: run)
    let unknown = Request(method: .get, path: "/threads/8d7f5b0e-1c1a-4f57-9f0e-2a1b3c4d5e6f/runs/x/y/z", requestID: "bench")

    Benchmark("GET /ok") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(await app.respond(to: ok).status) }
    }

    Benchmark("GET unknown path (404 problem)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(await app.respond(to: unknown).status) }
    }

    Benchmark("POST /runs/wait echo") { benchmark in
        for _ in benchmark.scaledIterations {
            let response = await app.respond(to: wait)
            guard case .bytes(let bytes) = response.body, response.status == .ok else { fatalError("runs/wait: \(response.status)") }
            blackHole(bytes.count)
        }
    }

    Benchmark("POST /runs/stream echo (values, SSE)") { benchmark in
        let writer = DiscardingWriter()
        for _ in benchmark.scaledIterations {
            let response = await app.respond(to: stream)
            guard case .stream(_, let body) = response.body else { fatalError("runs/stream: \(response.status)") }
            try await body(writer)
        }
    }
}
