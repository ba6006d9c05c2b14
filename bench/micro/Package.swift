// swift-tools-version:6.1
// Micro-benchmarks of agentfcgi's hot paths with ordo-one's package-benchmark (#25). A package of its own, so that
// neither `swift build` nor scripts/test.sh ever builds it: run it with bench/micro.sh, which links `agentfcgi`
// here to the repository (the name SwiftPM knows the root package by) and runs `swift package benchmark`.
import PackageDescription

let package = Package(
    name: "agentfcgi-micro",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "agentfcgi"),
        // Its default traits add the Swift 6.3 ARC runtime interposer, which is not on these machines: malloc counts only,
        // no ARC counts (their runtime hooks crash on 6.3 without it).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AgentFCGIKit", package: "agentfcgi"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
