// swift-tools-version: 6.1
// Baton's benchmarks: a package of its own that depends on the main one by path (as
// swift-nio's Benchmarks/ does), so the main build never pulls in the harness.
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "BatonBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Baton", path: ".."),
        // Only the malloc interposer trait: the runtime interposer's package is not
        // available on this kind of machine.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MPIOverhead",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MPI", package: "Baton"),
            ],
            path: "Benchmarks/MPIOverhead",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ],
    swiftLanguageModes: [.v6]
)
