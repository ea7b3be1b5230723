import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

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
