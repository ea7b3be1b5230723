import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

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
    @Option(name: .customLong("min-bandwidth"), help: ArgumentHelp("Judge bandwidth against this floor instead of --threshold: a node whose median link is under it, and every pair under it (e.g. 2GB/s, 10Gbit/s).", valueName: "RATE"))
    var minBandwidth: String?
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
        let floor = try minBandwidth.map { (text) throws -> Double in
            guard let v = BandwidthRate.gigabytesPerSecond(text) else {
                throw ValidationError("--min-bandwidth: '\(text)' is not a rate (e.g. 2GB/s, 500MB/s, 10Gbit/s; GB/s is bytes, Gb/s bits)")
            }
            return v
        }
        guard confirmations >= 1 else { throw ValidationError("--confirm must be 1 or more: a suspect is measured again at least once") }
        let options = PairMatrixOptions(
            bandwidthSize: bytes, latencySize: small, iterations: iterations, latencyIterations: latencyIterations, window: window, rounds: rounds)
        if findSlow {
            guard floor == nil else { throw ValidationError("--min-bandwidth judges every pair of the matrix; --find-slow compares the pairs of a round with each other (--threshold)") }
            try runUnderMPI { comm in
                guard let result = try FindSlowBench.run(options, threshold: threshold, confirmations: confirmations, on: comm) else { return ExitCodes.success }
                print(json ? FindSlowBench.json(result) : FindSlowBench.table(result))
                return failOnOutliers && result.verdict.culprit != .none ? ExitCodes.checkFailed : ExitCodes.success
            }
            return
        }
        try runUnderMPI { comm in
            let matrix = try PairMatrixBench.run(options, on: comm)
            let findings = matrix.findings(bandwidthFraction: threshold, latencyFactor: latencyFactor, minBandwidthGBps: floor)
            if comm.rank == 0 {
                print(json ? PairMatrixBench.json(matrix, findings: findings)
                      : PairMatrixBench.table(matrix, findings: findings, bandwidthFraction: threshold, latencyFactor: latencyFactor, minBandwidthGBps: floor))
            }
            return failOnOutliers && !findings.isEmpty ? ExitCodes.checkFailed : ExitCodes.success
        }
    }
}
