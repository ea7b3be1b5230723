import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

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
