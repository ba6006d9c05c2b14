// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "agentfcgi",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "agentfcgi", targets: ["AgentFCGI"]),
        // For bench/micro (package-benchmark), which calls the handlers in process; nothing else links it.
        .library(name: "AgentFCGIKit", targets: ["Handlers", "AgentRuntime"]),
    ],
    // Off by default: the OTLP exporter (swift-otel and swift-protobuf) is a minute of the first release build that
    // scripts/run.sh does; a deployment that sends traces builds with `--traits OTLP` (docs/operations.md, Traces).
    // scripts/test.sh builds with it.
    traits: [
        .trait(name: "OTLP", description: "Export traces over OTLP/HTTP with swift-otel: the worker's --otlp-endpoint."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // The openai provider's HTTP client; the live tests' HTTPS client too.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        // The store for several hosts.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        // HMAC-SHA256 for webhook signatures, SHA-256 for idempotency keys.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // Metrics: the instrumented layers speak swift-metrics; the executable backs it with Prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // Traces: the layers make spans with swift-distributed-tracing; the executable exports them with swift-otel over
        // OTLP/HTTP only (its gRPC trait would add grpc-swift and minutes of build), when built with the OTLP trait.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Methods, statuses and header fields of the handlers' Request and Response.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // libfcgi from Debian's libfcgi-dev; only Transport imports it.
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // epoll, eventfd and closefrom for spawning, which Glibc's Swift module leaves out.
        .systemLibrary(name: "CLinux"),
        // Every call to a URL the server did not configure itself: one address policy, resolve once, connect to
        // the address that was checked, redirects decided per caller, time and size caps.
        .target(
            name: "Outbound",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Metric names and their bounded labels, and the host-wide /metrics: each worker's series in a file of
        // its own, gathered by the worker that answers the scrape. Only swift-metrics' API here, no backend.
        .target(
            name: "Telemetry",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The agent runtime: configuration, models, the run loop and its events. No HTTP here.
        .target(
            name: "AgentRuntime",
            dependencies: [
                "Outbound",
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Threads, runs and the run event log behind protocols; SQLite (GRDB) shared by a host's workers.
        .target(
            name: "Store",
            dependencies: ["Telemetry", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The same protocols on PostgreSQL (postgres-nio), for workers on several hosts.
        .target(
            name: "StorePostgres",
            dependencies: [
                "Store",
                "Telemetry",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // The pool's error type (`ConnectionPoolError`, which PostgresClient throws as it is): a server out of
                // reach for a minute opens its circuit breaker, which the store answers as busy.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The run engine: creating, claiming, leasing, executing, cancelling and finishing runs, their typed event
        // log, usage and webhooks. No HTTP and no wire format.
        .target(
            name: "Runs",
            dependencies: [
                "Outbound",
                "AgentRuntime",
                "Store",
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Transport-neutral HTTP handling: routes, validation, problem+json, the dialects' rendering of runs.
        .target(
            name: "Handlers",
            dependencies: [
                "Outbound",
                "AgentRuntime",
                "Runs",
                "Store",
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // The FastCGI transport on libfcgi: acceptor threads, the I/O loop, the listener, the drain; and System.swift,
        // every POSIX call of the transport and the executable. Only the executable imports it.
        .target(
            name: "Transport",
            dependencies: [
                "CFastCGI",
                "CLinux",
                "Telemetry",
                "Handlers",
                "Runs",
                "AgentRuntime",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The responder process: the command line, the worker's services, logs, metrics and traces.
        .executableTarget(
            name: "AgentFCGI",
            dependencies: [
                "Transport",
                "Outbound",
                "Handlers",
                "Runs",
                "AgentRuntime",
                "Store",
                "StorePostgres",
                "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "AgentRuntimeTests",
            dependencies: [
                "AgentRuntime",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "HandlersTests",
            dependencies: ["Handlers", "Runs", "AgentRuntime", "Outbound", "Store", "TestSupport", "Telemetry",
                           .product(name: "HTTPTypes", package: "swift-http-types")]
        ),
        .testTarget(
            name: "OutboundTests",
            dependencies: ["Outbound", "TestSupport"]
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "StorePostgres"]
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: ["Transport", "AgentFCGI", "Handlers", .product(name: "HTTPTypes", package: "swift-http-types")]
        ),
        .testTarget(
            name: "LiveTests",
            dependencies: [
                "AgentFCGI",
                "Handlers",
                "Runs",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
