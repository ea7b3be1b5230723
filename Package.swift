// swift-tools-version: 6.1
// Baton: a multi-node distributed-training launcher over MPI and InfiniBand verbs.
import PackageDescription

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .executable(name: "baton-exec", targets: ["baton-exec"]),
        .executable(name: "baton-test-trainer", targets: ["baton-test-trainer"]),
        .library(name: "MPI", targets: ["MPI"]),
        .library(name: "Verbs", targets: ["Verbs"]),
        // The launcher library, in layers (each usable without the CLI).
        .library(name: "BatonRuns", targets: ["BatonRuns"]),
        .library(name: "BatonLaunch", targets: ["BatonLaunch"]),
        .library(name: "BatonGrid", targets: ["BatonGrid"]),
        .library(name: "BatonReports", targets: ["BatonReports"]),
        // What a Swift trainer links (docs/sharding.md, "Reading a shard in Swift").
        .library(name: "BatonTrainer", targets: ["BatonTrainer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // SHA-256 of every file in a run snapshot's manifest (docs/snapshots.md).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // C libraries, found with pkg-config; each names the Debian package that has it.
        .systemLibrary(
            name: "CMPI", path: "CInterop/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(
            name: "CIBVerbs", path: "CInterop/CIBVerbs", pkgConfig: "libibverbs",
            providers: [.apt(["libibverbs-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "CInterop/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Bindings: reusable on their own, no knowledge of Baton, no C type in public API.
        .target(name: "MPI", dependencies: ["CMPI"]),
        .target(name: "Verbs", dependencies: ["CIBVerbs"]),

        // The base every layer stands on, lowest first. The three below are FoundationEssentials
        // at most (no Foundation, MPI, verbs, GRDB or Yams), so `baton-exec`, which every rank
        // starts and which links them alone, loads little (docs/launch.md, "Node loss and overhead").
        // System: child processes and their teardown, the monotonic clock, locks, threads,
        // signal names, durations, file reads, /proc.
        .target(name: "BatonSystem"),
        // Protocol: what the head and the per-rank wrapper agree on: the tagged-line wire
        // format, the head channel, host lists, the job contract (environment), exec argv.
        .target(name: "BatonProtocol", dependencies: ["BatonSystem"]),
        // The per-rank wrapper (`baton exec`, `baton-exec`).
        .target(name: "BatonExec", dependencies: ["BatonProtocol", "BatonSystem"]),

        // The trainer helper, the Swift twin of python/baton: what a trainer links to follow
        // Baton's sample order and read the shard a launch hands it (BATON_SHARD_FILE), and
        // nothing of the launcher: the sample plan and its permutation, the .npy and JSON
        // shard reader, SplitMix64.
        .target(name: "BatonTrainer"),

        // Presentation pieces every command shares: text tables, key-ordered JSON, byte
        // sizes, exit codes and the version. Foundation, nothing of Baton.
        .target(name: "BatonSupport"),

        // Sharding: sample, file and byte-range plans and the writer of the per-rank files
        // a launch hands its ranks (`baton shard`, and launch before each attempt).
        .target(name: "BatonShard", dependencies: ["BatonSystem", "BatonTrainer"]),

        // The tools: probe, doctor, container flags, bench, selftest. They know the MPI and
        // verbs bindings and nothing of launch, grid or runs.
        .target(
            name: "BatonTools",
            dependencies: ["BatonSupport", "BatonSystem", "MPI", "Verbs"]),

        // The launcher library, in four layers over the base: runs, launch, grid, reports.
        // Each imports only the layers below it (and the base); the compiler refuses the rest
        // (`--explicit-target-dependency-import-check error`). docs/ARCHITECTURE.md lists them;
        // a test (BatonCLITests) checks that list against this file.
        // Runs: what a run is on disk, shared by launch and grid: the SQLite run store
        // (`RunStore`) and the launch and grid stores over it, their typed records (a launch's
        // plan, attempts and report, and the conversion of a run made before the store; a
        // grid's spec, configs and values), what every head shares (registration, signals),
        // the run kind, and snapshots (take, restore, roll back, the schedule).
        .target(
            name: "BatonRuns",
            dependencies: [
                "BatonProtocol", "BatonSupport", "BatonSystem",
                // The grid spec is parsed here: a grid store made before it kept the decoded
                // spec (`GridSpecRecord`) converts itself when opened.
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // Launch: hosts (hostfile, -H, --local, Slurm), the local nodes, plans, the loss
        // classifier, the restart policy, the attempt runner, the launch supervisor (the
        // launch head) and resume.
        .target(
            name: "BatonLaunch",
            dependencies: ["BatonRuns", "BatonShard", "BatonProtocol", "BatonSupport", "BatonSystem", "BatonTrainer"]),
        // Grid: the spec's expansion, the scheduler, the grid head and its executors; the
        // mpirun executor runs every attempt through the launch supervisor.
        .target(
            name: "BatonGrid",
            dependencies: [
                "BatonLaunch", "BatonRuns", "BatonProtocol", "BatonSupport", "BatonSystem", "BatonTrainer",
                .product(name: "Yams", package: "Yams"),
            ]),
        // Reports: the read-only views of runs of both kinds: the run index, status, logs,
        // the timeline.
        .target(
            name: "BatonReports",
            dependencies: ["BatonGrid", "BatonLaunch", "BatonRuns", "BatonSupport", "BatonSystem"]),

        // The CLI: parsing and printing only, on top of every layer.
        .executableTarget(
            name: "baton",
            dependencies: [
                "BatonReports", "BatonGrid", "BatonLaunch", "BatonRuns", "BatonTools", "BatonShard",
                "BatonSupport", "BatonExec", "BatonProtocol", "BatonSystem", "BatonTrainer", "MPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // The per-rank wrapper alone: what `baton launch` starts on every rank when it sits
        // beside `baton`. It links BatonExec and the two layers under it only, so it starts in
        // a third of the time of `baton exec` (same code, same options).
        .executableTarget(name: "baton-exec", dependencies: ["BatonExec", "BatonProtocol", "BatonSystem"]),

        // A small data-parallel trainer used by the launch and grid tests; it spells the
        // RUN/exactly-once.json it writes through BatonProtocol's RunDirectory.
        .executableTarget(name: "baton-test-trainer", dependencies: ["MPI", "BatonProtocol", "BatonTrainer"]),

        // The example trainer: data-parallel digits classifier, the demo's main job. It links
        // what a user's trainer would (the trainer helper, MPI), not the launcher.
        .executableTarget(
            name: "digits-train",
            dependencies: [
                "MPI", "BatonTrainer", "CZlib",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "MPITests", dependencies: ["MPI"]),
        .testTarget(name: "DigitsTrainTests", dependencies: ["digits-train"]),
        .testTarget(name: "VerbsTests", dependencies: ["Verbs"]),
        .testTarget(name: "BatonSystemTests", dependencies: ["BatonSystem"]),
        .testTarget(name: "BatonProtocolTests", dependencies: ["BatonProtocol"]),
        .testTarget(name: "BatonExecTests", dependencies: ["BatonExec", "BatonProtocol"]),
        .testTarget(name: "BatonTrainerTests", dependencies: ["BatonTrainer"]),
        .testTarget(name: "BatonShardTests", dependencies: ["BatonShard", "BatonTrainer"]),
        .testTarget(
            name: "BatonToolsTests",
            dependencies: [
                "BatonTools", "BatonSupport",
                .product(name: "Yams", package: "Yams"),
            ]),
        // The snapshot tests make the run they snapshot with the grid (`GridRun.create`).
        .testTarget(name: "BatonRunsTests", dependencies: ["BatonRuns", "BatonGrid"]),
        .testTarget(
            name: "BatonLaunchTests",
            dependencies: ["BatonLaunch", "BatonRuns", "BatonExec", "BatonProtocol", "BatonSystem"]),
        .testTarget(
            name: "BatonGridTests",
            dependencies: [
                "BatonGrid", "BatonLaunch", "BatonRuns", "BatonExec", "BatonProtocol", "BatonSystem",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // The launch store's tests are here: they read a launch's store back through the
        // readers (resume point, run index, status, timeline).
        .testTarget(
            name: "BatonReportsTests",
            dependencies: [
                "BatonReports", "BatonGrid", "BatonLaunch", "BatonRuns", "BatonProtocol", "BatonSystem",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "BatonCLITests",
            dependencies: [
                "baton", "BatonReports", "BatonGrid", "BatonLaunch", "BatonRuns", "BatonTools", "BatonSupport",
                "BatonProtocol", "BatonSystem", "BatonTrainer", "MPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
