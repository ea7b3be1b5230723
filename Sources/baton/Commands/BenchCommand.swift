import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Interconnect benchmarks over MPI and verbs (OSU, nccl-tests and perftest methods).",
        discussion: """
            Start under mpirun, e.g. `mpirun -np 2 baton bench latency`, `mpirun -np 4 baton bench allreduce --svg ar.svg`. \
            Rank 0 prints. Units: sizes in bytes, times in microseconds, bandwidth in GB/s (1 GB = 1e9 bytes).

            Exit codes: 0 ok; 1 wrong elements, --min-busbw not met, or an outlier with --fail-on-outliers; \
            2 bad option; 3 no RDMA device (bench rdma); 4 an MPI or verbs call failed.
            """,
        subcommands: [
            LatencyBench.self, BandwidthBench.self, BidirectionalBench.self,
            AllreduceBench.self, AllgatherBench.self, ReducescatterBench.self, AlltoallBench.self, BcastBench.self, BarrierBench.self,
            MatrixBench.self, RDMABenchCommand.self, SelfLoopBench.self,
        ])
}

// MARK: shared options

struct SizeOptions: ParsableArguments {
    @Option(name: .customLong("min-size"), help: "Smallest message (bytes; K/M/G suffixes are binary).")
    var minSize: String?
    @Option(name: .customLong("max-size"), help: "Largest message (default 4M).")
    var maxSize: String?
    @Option(name: .customLong("iters"), help: "Timed iterations per size (default: OSU's counts).")
    var iterations: Int?
    @Option(help: "Untimed warm-up iterations per size (default: OSU's counts).")
    var warmup: Int?

    func sizes(defaultMinimum: Int, defaultMaximum: Int = 4 << 20) throws -> [Int] {
        let lo = try minSize.map { try parse($0, "--min-size") } ?? defaultMinimum
        let hi = try maxSize.map { try parse($0, "--max-size") } ?? max(defaultMaximum, lo)
        return try MessageSizes.doubling(from: lo, to: hi)
    }

    private func parse(_ text: String, _ option: String) throws -> Int {
        guard let bytes = MessageSizes.parseByteSize(text) else {
            throw BenchError(.badOption, "\(option) '\(text)' is not a size; write bytes, or 8K, 4M, 1G")
        }
        return bytes
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of the table.")
    var json = false
    @Flag(help: "Print CSV instead of the table.")
    var csv = false
    @Option(help: "Also draw the curve as an SVG plot to this file.")
    var svg: String?

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv are exclusive; pick one") }
    }
}

/// Runs `body` between MPI start-up and shut-down. Rank 0 alone says why a benchmark
/// failed (every rank would say the same); each rank then ends with the error's code.
func runUnderMPI(_ body: (Communicator) throws -> Int32) throws {
    do {
        try MPIEnvironment.initialize()
    } catch {
        FileHandle.standardError.write(Data("baton bench: MPI did not start: \(error)\n".utf8))
        throw CommandFailure(ExitCodes.unavailable)
    }
    let comm = Communicator.world
    let rank = comm.rank
    var code = ExitCodes.success
    do {
        code = try body(comm)
    } catch let error as BenchError {
        if rank == 0 { FileHandle.standardError.write(Data("baton bench: \(error)\n".utf8)) }
        code = error.exitCode
    } catch {
        FileHandle.standardError.write(Data("baton bench: rank \(rank): \(error)\n".utf8))
        code = ExitCodes.jobFailed
    }
    try? MPIEnvironment.finalize()
    if code != ExitCodes.success { throw CommandFailure(code) }
}

/// The library and host, for the plot's subtitle: "Open MPI v4.1.4 on node01".
func plotNote() -> String {
    let library = MPIEnvironment.libraryVersion.split(separator: ",").first.map(String.init) ?? ""
    let host = (try? MPIEnvironment.processorName()) ?? ""
    return [library, host].filter { !$0.isEmpty }.joined(separator: " on ")
}

func writeSVG(_ plot: BenchPlot, to path: String) throws {
    do {
        try plot.svg().write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw BenchError(.badOption, "--svg: cannot write \(path): \(error.localizedDescription)")
    }
}

// MARK: point-to-point

protocol PointToPointSubcommand: ParsableCommand {
    static var test: PointToPointTest { get }
    var sizes: SizeOptions { get }
    var output: OutputOptions { get }
    var window: Int { get }
}

extension PointToPointSubcommand {
    func run() throws {
        let options = try PointToPointOptions(
            test: Self.test, sizes: sizes.sizes(defaultMinimum: Self.test.defaultMinimumSize),
            iterations: sizes.iterations, warmup: sizes.warmup, window: window)
        try runUnderMPI { comm in
            let result = try PointToPointBench.run(options, on: comm)
            guard comm.rank == 0 else { return ExitCodes.success }
            print(output.json ? BenchReport.json(result) : output.csv ? BenchReport.csv(result) : BenchReport.table(result))
            if let path = output.svg { try writeSVG(try BenchPlot.of(result, note: plotNote()), to: path) }
            return ExitCodes.success
        }
    }
}

struct LatencyBench: PointToPointSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "latency", abstract: "Ping-pong latency between ranks 0 and 1 (osu_latency: half round trip, 0 B to 4 MiB).")
    static let test = PointToPointTest.latency
    @OptionGroup var sizes: SizeOptions
    @OptionGroup var output: OutputOptions
    var window: Int { 1 }
}

struct BandwidthBench: PointToPointSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "bw", abstract: "Bandwidth from rank 0 to rank 1 (osu_bw: window of sends, then an ack; 1 B to 4 MiB).")
    static let test = PointToPointTest.bandwidth
    @OptionGroup var sizes: SizeOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Sends in flight per iteration (OSU uses 64).") var window = 64
}

struct BidirectionalBench: PointToPointSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "bibw", abstract: "Bandwidth both ways at once between ranks 0 and 1 (osu_bibw).")
    static let test = PointToPointTest.bidirectional
    @OptionGroup var sizes: SizeOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Sends in flight per direction per iteration (OSU uses 64).") var window = 64
}

// MARK: collectives

struct CollectiveArguments: ParsableArguments {
    @OptionGroup var sizes: SizeOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .customLong("min-busbw"), help: "Exit 1 when the average bus bandwidth (GB/s) is under this (nccl-tests' NCCL_TESTS_MIN_BW).")
    var minimumBusBandwidth: Double?
    @Flag(name: .customLong("inject-corruption"), help: .hidden)
    var injectCorruption = false
}

protocol CollectiveSubcommand: ParsableCommand {
    static var kind: CollectiveKind { get }
    var arguments: CollectiveArguments { get }
}

extension CollectiveSubcommand {
    func run() throws {
        let args = arguments
        // nccl-tests' default range is a single size; Baton sweeps 8 B (two floats) to
        // 4 MiB so a curve comes out, like OSU's collectives.
        let options = try CollectiveOptions(
            kind: Self.kind, sizes: args.sizes.sizes(defaultMinimum: 8), iterations: args.sizes.iterations,
            warmup: args.sizes.warmup, injectCorruption: args.injectCorruption)
        if let m = args.minimumBusBandwidth, !(m >= 0) { throw ValidationError("--min-busbw must be a bandwidth in GB/s, 0 or more") }
        try runUnderMPI { comm in
            let result = try CollectiveBench.run(options, on: comm)
            guard comm.rank == 0 else { return BenchGate(minimumBusBandwidthGBps: args.minimumBusBandwidth).failures(result).isEmpty ? 0 : ExitCodes.checkFailed }
            let output = args.output
            print(output.json ? BenchReport.json(result) : output.csv ? BenchReport.csv(result) : BenchReport.table(result))
            if let path = output.svg { try writeSVG(try BenchPlot.of(result, note: plotNote()), to: path) }
            let failures = BenchGate(minimumBusBandwidthGBps: args.minimumBusBandwidth).failures(result)
            for reason in failures { FileHandle.standardError.write(Data("baton bench \(Self.kind.rawValue): FAILED: \(reason)\n".utf8)) }
            return failures.isEmpty ? ExitCodes.success : ExitCodes.checkFailed
        }
    }
}

struct AllreduceBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(commandName: "allreduce", abstract: "MPI_Allreduce (sum of float32); busbw = algbw x 2(n-1)/n.")
    static let kind = CollectiveKind.allreduce
    @OptionGroup var arguments: CollectiveArguments
}

struct AllgatherBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(commandName: "allgather", abstract: "MPI_Allgather; size is the gathered array; busbw = algbw x (n-1)/n.")
    static let kind = CollectiveKind.allgather
    @OptionGroup var arguments: CollectiveArguments
}

struct ReducescatterBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "reducescatter", abstract: "MPI_Reduce_scatter_block (sum); size is the input array; busbw = algbw x (n-1)/n.")
    static let kind = CollectiveKind.reducescatter
    @OptionGroup var arguments: CollectiveArguments
}

struct AlltoallBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(commandName: "alltoall", abstract: "MPI_Alltoall; size is each rank's array; busbw = algbw x (n-1)/n.")
    static let kind = CollectiveKind.alltoall
    @OptionGroup var arguments: CollectiveArguments
}

struct BcastBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(commandName: "bcast", abstract: "MPI_Bcast from rank 0; busbw = algbw.")
    static let kind = CollectiveKind.bcast
    @OptionGroup var arguments: CollectiveArguments
}

struct BarrierBench: CollectiveSubcommand {
    static let configuration = CommandConfiguration(commandName: "barrier", abstract: "MPI_Barrier time per call.")
    static let kind = CollectiveKind.barrier
    @OptionGroup var arguments: CollectiveArguments
}

// MARK: matrix

struct MatrixBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Bandwidth and latency between every pair of nodes, and the pairs far below the median.",
        discussion: """
            Start one rank per node: mpirun --map-by ppr:1:node baton bench matrix. Pairs are measured one at a time.

            --find-slow looks for the one slow node or slow link instead of measuring every pair: rounds of \
            node-disjoint pairs measured at the same time (bandwidth both ways at once), a suspect re-measured with \
            other partners. A slow node is slow with every partner and found in 3 rounds; a slow link only with one, \
            found by the round that holds it plus two (--confirm). It names the node or the pair with the figures that convicted \
            it and how many rounds and pair measurements it took. Needs at least 4 nodes; uses --size, --window, \
            --iters and --threshold (not the latency options or --rounds).
            """)

    @Option(help: "Message size for bandwidth (bytes; K/M suffixes).") var size = "1M"
    @Option(name: .customLong("latency-size"), help: "Message size for latency.") var latencySize = "8"
    @Option(name: .customLong("iters"), help: "Timed windows per pair for bandwidth.") var iterations = 10
    @Option(name: .customLong("latency-iters"), help: "Timed round trips per pair for latency.") var latencyIterations = 1000
    @Option(help: "Sends in flight per window.") var window = 64
    @Option(help: "Sweeps over all pairs; each pair keeps its best result (noise only slows a link down).") var rounds = 3
    @Option(help: "A pair or node is slow under this fraction of the reference bandwidth.") var threshold = 0.5
    @Option(name: .customLong("latency-factor"), help: "A pair or node is slow over this many times the reference latency.")
    var latencyFactor = 3.0
    @Flag(help: "Print JSON instead of the matrices.") var json = false
    @Flag(name: .customLong("fail-on-outliers"), help: "Exit 1 when any pair or node stands out.") var failOnOutliers = false
    @Flag(name: .customLong("find-slow"), help: "Find the one slow node or link in few rounds of concurrent pairs instead of measuring every pair.")
    var findSlow = false
    @Option(name: .customLong("confirm"), help: "With --find-slow: how many more times a suspect must be slow (a new partner for a node, the same pair for a link) before it is named.")
    var confirmations = 2

    func run() throws {
        guard let bytes = MessageSizes.parseByteSize(size), let small = MessageSizes.parseByteSize(latencySize) else {
            throw ValidationError("--size and --latency-size take bytes, or 8K, 1M")
        }
        guard threshold > 0, threshold < 1, latencyFactor > 1 else {
            throw ValidationError("--threshold must be between 0 and 1, --latency-factor above 1")
        }
        guard confirmations >= 1 else { throw ValidationError("--confirm must be 1 or more: a suspect is measured again at least once") }
        let options = PairMatrixOptions(
            bandwidthSize: bytes, latencySize: small, iterations: iterations, latencyIterations: latencyIterations, window: window, rounds: rounds)
        if findSlow {
            try runUnderMPI { comm in
                guard let result = try FindSlowBench.run(options, threshold: threshold, confirmations: confirmations, on: comm) else { return ExitCodes.success }
                print(json ? FindSlowBench.json(result) : FindSlowBench.table(result))
                return failOnOutliers && result.verdict.culprit != .none ? ExitCodes.checkFailed : ExitCodes.success
            }
            return
        }
        try runUnderMPI { comm in
            let matrix = try PairMatrixBench.run(options, on: comm)
            let findings = matrix.findings(bandwidthFraction: threshold, latencyFactor: latencyFactor)
            if comm.rank == 0 {
                print(json ? PairMatrixBench.json(matrix, findings: findings) : PairMatrixBench.table(matrix, findings: findings, bandwidthFraction: threshold, latencyFactor: latencyFactor))
            }
            return failOnOutliers && !findings.isEmpty ? ExitCodes.checkFailed : ExitCodes.success
        }
    }
}

// MARK: rdma

struct RDMABenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdma",
        abstract: "RDMA write/read/send bandwidth or latency between ranks 0 and 1 over a verbs RC queue pair (perftest method).",
        discussion: """
            Like ib_write_bw / ib_read_lat / ib_send_bw, with the queue-pair information exchanged over MPI.
            Bandwidth in MiB/s (2^20, perftest's default) and Gb/s; latency in microseconds (min, max, typical,
            average, stdev, 99%, 99.9%), half a round trip for write and send, not halved for read.
            Without an RDMA device it says what the probe found and exits 3.
            """)

    @Argument(help: "write, read or send") var operation: String
    @Flag(help: "Measure latency instead of bandwidth.") var latency = false
    @Flag(name: .shortAndLong, help: "Every size from 2 B to 8 MiB (perftest -a).") var all = false
    @Option(help: "Message size (default 64K for bandwidth, 2 for latency).") var size: String?
    @Option(name: .customLong("max-size"), help: "With --all, the largest size.") var maxSize: String?
    @Option(name: .customLong("iters"), help: "Iterations per size (perftest: 5000 bandwidth, 1000 latency).") var iterations: Int?
    @Option(name: .customLong("tx-depth"), help: "Operations in flight (perftest: 128).") var txDepth = RDMASizes.defaultTxDepth
    @Option(help: "RDMA device (default: the first with an ACTIVE port).") var device: String?
    @Option(help: "Port number (default: the first ACTIVE one).") var port: Int?
    @Option(name: .customLong("gid-index"), help: "Source GID index for RoCE.") var gidIndex = 0
    @Flag(help: "Print JSON instead of the table.") var json = false

    func run() throws {
        guard let op = RDMAOperation(rawValue: operation) else {
            throw ValidationError("the operation is write, read or send, not '\(operation)'")
        }
        func bytes(_ text: String?, _ name: String) throws -> Int? {
            guard let text else { return nil }
            guard let b = MessageSizes.parseByteSize(text) else { throw ValidationError("\(name) '\(text)' is not a size") }
            return b
        }
        let sizes = try RDMASizes.schedule(all: all, size: try bytes(size, "--size"), maximum: try bytes(maxSize, "--max-size"), latency: latency)
        let options = RDMAOptions(
            operation: op, test: latency ? .latency : .bandwidth, sizes: sizes, iterations: iterations, txDepth: txDepth,
            device: device, port: port, gidIndex: gidIndex)
        try runUnderMPI { comm in
            let result = try RDMABench.run(options, on: comm)
            if comm.rank == 0 { print(json ? RDMABench.json(result) : RDMABench.table(result)) }
            return ExitCodes.success
        }
    }
}

// MARK: binding overhead

struct SelfLoopBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfloop",
        abstract: "ns per blocking send+receive to the same rank through the Swift bindings (compare with Benchmarks/c-baseline c-selfloop).",
        shouldDisplay: false)

    func run() throws {
        try runUnderMPI { comm in
            let ns = try BindingOverhead.sendReceiveNanoseconds()
            if comm.rank == 0 { print("{\"suite\": \"selfloop\", \"impl\": \"swift\", \"ns_per_send_receive\": \(formatNs(ns))}") }
            return ExitCodes.success
        }
    }

    func formatNs(_ ns: Double) -> String { String(Double(Int(ns * 100)) / 100) }
}
