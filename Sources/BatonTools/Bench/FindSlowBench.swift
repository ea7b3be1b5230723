import BatonSupport
import MPI

/// `bench matrix --find-slow` over MPI: rank 0 runs `SlowFinder` and, each round,
/// broadcasts every rank's partner; each pair exchanges windows both ways at once while
/// the other pairs do the same; the ranks' times come back by allgather.
public struct FindSlowResult: Sendable, Equatable {
    var nodes: [String]
    public var verdict: SlowFinder.Verdict
    var threshold: Double
    /// Wall time of the search on rank 0, MPI start-up and host labels left out.
    public var seconds: Double

    /// What the all-pairs sweep measures: every unordered pair (`bench matrix` takes
    /// each both ways, one pair at a time).
    var allPairs: Int { nodes.count * (nodes.count - 1) / 2 }
}

public enum FindSlowBench {
    /// The partner value that ends the search.
    static let stop: Int32 = -2

    /// One rank per node. Rank 0 gets the result, the others nil. Uses the bandwidth
    /// size, window and iterations of `options`; `rounds` (sweeps) does not apply: a
    /// suspect is measured again instead.
    public static func run(_ options: PairMatrixOptions, threshold: Double, confirmations: Int = 2, on comm: Communicator) throws -> FindSlowResult? {
        let n = comm.size
        let rank = comm.rank
        guard n >= 4 else {
            throw BenchError(
                .wrongWorld,
                "matrix --find-slow needs at least 4 ranks, one per node (it has \(n)); with fewer, bench matrix measures every pair in as few measurements")
        }
        guard options.window >= 1, options.iterations >= 1, options.bandwidthSize >= 1, confirmations >= 1 else {
            throw BenchError(.badOption, "matrix: --iters, --window, --size and --confirm must be at least 1")
        }
        let labels = try PairMatrixBench.hostLabels(comm: comm)
        let outgoing = MessageBuffer<UInt8>(repeating: 0x61, count: options.bandwidthSize)
        let incoming = MessageBuffer<UInt8>(repeating: 0, count: options.bandwidthSize)
        let warmup = max(1, options.iterations / 10)

        /// Seconds for this rank's exchange with `partner`, -1 without one.
        func exchange(with partner: Int) throws -> Double {
            // Every pair of the round starts together, so they do run at the same time.
            try comm.barrier()
            guard partner >= 0 else { return -1 }
            var group = RequestGroup(capacity: 2 * options.window)
            var start = 0.0
            for i in 0..<(warmup + options.iterations) {
                if i == warmup { start = MPIEnvironment.wallTime() }
                for _ in 0..<options.window { group.add(try comm.irecv(into: incoming, from: .rank(partner), tag: .value(310))) }
                for _ in 0..<options.window { group.add(try comm.isend(outgoing, to: partner, tag: 310)) }
                try group.waitAll()
            }
            return MPIEnvironment.wallTime() - start
        }
        /// Measures with the partners rank 0 broadcast and gathers every rank's time.
        func round(_ partners: [Int32]) throws -> [Double] {
            let mine = try exchange(with: Int(partners[rank]))
            var times = [Double](repeating: -1, count: n)
            try comm.allGather([mine], into: &times)
            return times
        }

        guard rank == 0 else {
            var partners = [Int32](repeating: 0, count: n)
            while true {
                try comm.broadcast(&partners, root: 0)
                if partners[0] == stop { return nil }
                _ = try round(partners)
            }
        }
        let start = MPIEnvironment.wallTime()
        let verdict = try SlowFinder.find(nodes: n, threshold: threshold, confirmations: confirmations) { pairs in
            var partners = [Int32](repeating: -1, count: n)
            for p in pairs {
                partners[p.a] = Int32(p.b)
                partners[p.b] = Int32(p.a)
            }
            try comm.broadcast(&partners, root: 0)
            let times = try round(partners)
            // The slower end decides: a link slow one way is a slow link.
            return pairs.map { p in
                PointToPointBench.bandwidthGBps(
                    size: options.bandwidthSize, iterations: options.iterations, window: options.window,
                    seconds: max(times[p.a], times[p.b]))
            }
        }
        let seconds = MPIEnvironment.wallTime() - start
        var done = [Int32](repeating: stop, count: n)
        try comm.broadcast(&done, root: 0)
        return FindSlowResult(nodes: labels, verdict: verdict, threshold: threshold, seconds: seconds)
    }

    static func describe(_ f: SlowFinder.Figure, _ nodes: [String]) -> String {
        let pct = f.reference > 0 ? Int((f.bandwidthGBps / f.reference * 100).rounded()) : 0
        return "\(nodes[f.pair.a]) <-> \(nodes[f.pair.b]): \(BenchPlot.figure(f.bandwidthGBps)) GB/s in round \(f.round), "
            + "\(pct)% of the round's reference \(BenchPlot.figure(f.reference)) GB/s" + (f.isSlow ? " (slow)" : "")
    }

    public static func table(_ result: FindSlowResult) -> String {
        let v = result.verdict
        let nodes = result.nodes
        var lines = [
            "# baton bench matrix --find-slow: \(nodes.count) nodes; each round measures node-disjoint pairs at the same time, both ways at once",
            "# \(v.rounds) rounds, \(v.pairsMeasured) pair measurements (every pair one at a time: \(result.allPairs)), \(formatFixed(result.seconds, decimals: 2)) s",
        ]
        switch v.culprit {
        case .none:
            lines.append("# nothing slow: no pair under \(Int((result.threshold * 100).rounded()))% of its round's reference, every pair measured")
        case .node(let k):
            lines.append("SLOW NODE  \(nodes[k]): slow with every partner")
        case .link(let p):
            lines.append("SLOW LINK  \(nodes[p.a]) <-> \(nodes[p.b]): slow every time, both nodes fast with others")
        case .severalNodes(let ks):
            lines.append("SLOW NODES  \(ks.map { nodes[$0] }.joined(separator: ", ")): more than one slow node; run bench matrix (all pairs) for the whole picture")
        }
        lines += v.evidence.map { "  " + describe($0, nodes) }
        return lines.joined(separator: "\n")
    }

    public static func json(_ result: FindSlowResult) -> String {
        let v = result.verdict
        let nodes = result.nodes
        func figure(_ f: SlowFinder.Figure) -> BenchJSON {
            .object([
                ("nodes", .array([.string(nodes[f.pair.a]), .string(nodes[f.pair.b])])), ("bandwidth_GBps", .double(f.bandwidthGBps)),
                ("round", .int(f.round)), ("reference_GBps", .double(f.reference)), ("slow", .bool(f.isSlow)),
            ])
        }
        let culprit: (String, [Int]) =
            switch v.culprit {
            case .none: ("none", [])
            case .node(let k): ("node", [k])
            case .link(let p): ("link", [p.a, p.b])
            case .severalNodes(let ks): ("several_nodes", ks)
            }
        return BenchJSON.object([
            ("suite", .string("matrix-find-slow")),
            ("nodes", .array(nodes.map(BenchJSON.string))),
            ("units", .object([("bandwidth", .string("GB/s each way, 1 GB = 1e9 bytes"))])),
            ("threshold", .double(result.threshold)),
            ("culprit", .object([("kind", .string(culprit.0)), ("nodes", .array(culprit.1.map { .string(nodes[$0]) }))])),
            ("rounds", .int(v.rounds)),
            ("pairs_measured", .int(v.pairsMeasured)),
            ("all_pairs", .int(result.allPairs)),
            ("seconds", .double(result.seconds)),
            ("evidence", .array(v.evidence.map(figure))),
            ("figures", .array(v.figures.map(figure))),
        ]).renderedRows()
    }
}
