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
