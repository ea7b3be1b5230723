import BatonSupport
import MPI

/// Bandwidth and latency between every pair of nodes, and the pairs and nodes that
/// stand out. A bad cable slows one pair; a bad NIC or node slows every pair it is in.
public struct PairMatrix: Sendable, Equatable {
    /// Node labels, index = rank.
    var nodes: [String]
    /// bandwidth[i][j]: GB/s (1e9) from i to j; the diagonal is nil.
    var bandwidthGBps: [[Double?]]
    /// latency[i][j]: half round trip in µs; symmetric, diagonal nil.
    var latencyMicroseconds: [[Double?]]

    init(nodes: [String], bandwidthGBps: [[Double?]], latencyMicroseconds: [[Double?]]) {
        self.nodes = nodes
        self.bandwidthGBps = bandwidthGBps
        self.latencyMicroseconds = latencyMicroseconds
    }

    /// A pair or node that is far from the others, with the figure that singled it out.
    struct Outlier: Sendable, Equatable, CustomStringConvertible {
        enum Metric: String, Sendable { case bandwidth, latency }
        /// Node indices: two for a pair, one for a node.
        var nodes: [Int]
        var metric: Metric
        var value: Double
        var reference: Double
        var labels: [String]
        /// The reference is a floor given in absolute terms (`--min-bandwidth`), not a
        /// median of the measured figures.
        var isFloor = false

        var description: String {
            let what = labels.count == 1 ? "node \(labels[0])" : labels.joined(separator: " <-> ")
            switch metric {
            case .bandwidth where isFloor:
                return "\(what): bandwidth \(BenchPlot.figure(value)) GB/s, under the floor \(BenchPlot.figure(reference)) GB/s"
            case .bandwidth:
                let pct = reference > 0 ? Int((value / reference * 100).rounded()) : 0
                return "\(what): bandwidth \(BenchPlot.figure(value)) GB/s, \(pct)% of the reference \(BenchPlot.figure(reference)) GB/s"
            case .latency:
                let times = reference > 0 ? formatFixed(value / reference, decimals: 1) : "?"
                return "\(what): latency \(BenchPlot.figure(value)) µs, \(times)x the reference \(BenchPlot.figure(reference)) µs"
            }
        }
    }

    /// What stands out: nodes whose links are slow, then pairs.
    public struct Findings: Sendable, Equatable {
        var nodes: [Outlier]
        var pairs: [Outlier]
        public var isEmpty: Bool { nodes.isEmpty && pairs.isEmpty }
    }

    /// Outliers in both metrics. A pair is an outlier when its bandwidth is under
    /// `bandwidthFraction` of the reference, or its latency over `latencyFactor` times the
    /// reference. The reference is the median over pairs; when some node's links are
    /// slow as a whole (the median of its links past the threshold against the median
    /// of the pairs it is not in), that node is reported and the pair reference is the
    /// median of the pairs without it, because with few nodes a bad node's pairs can be
    /// half or more of all pairs (with 3 nodes, 2 of 3) and would drag a plain median
    /// down to their own level.
    ///
    /// With `minBandwidthGBps` (`--min-bandwidth`) bandwidth is judged against that floor
    /// instead: a node whose typical link (the median of its links) is under it, and each
    /// pair under it, whatever the others measure (so a fabric slow as a whole fails too,
    /// and two nodes can be judged).
    public func findings(bandwidthFraction: Double = 0.5, latencyFactor: Double = 3, minBandwidthGBps: Double? = nil) -> Findings {
        let bw = minBandwidthGBps.map { floor in belowFloor(floor) }
            ?? analyse(bandwidthGBps, isBad: { value, ref in value < ref * bandwidthFraction }, metric: .bandwidth)
        let lat = analyse(symmetricLatency, isBad: { value, ref in value > ref * latencyFactor }, metric: .latency)
        return Findings(nodes: bw.nodes + lat.nodes, pairs: bw.pairs + lat.pairs)
    }

    var symmetricLatency: [[Double?]] { latencyMicroseconds }

    /// Each unordered pair's value: the slower direction for bandwidth (min), the larger
    /// for latency (max): a link slow one way is a bad link.
    func pairValues(_ matrix: [[Double?]], metric: Outlier.Metric) -> [(i: Int, j: Int, value: Double)] {
        let n = nodes.count
        var pairs: [(i: Int, j: Int, value: Double)] = []
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let both = [matrix[i][j], matrix[j][i]].compactMap { $0 }
                guard !both.isEmpty else { continue }
                pairs.append((i, j, metric == .bandwidth ? both.min()! : both.max()!))
            }
        }
        return pairs
    }

    /// Bandwidth against an absolute floor: every pair under it, and the nodes whose median
    /// link is under it, the slowest first, each one's links set aside before the next is
    /// judged (a slow node drags its partners' medians down: with 4 nodes a healthy node's
    /// median is its second link of three, one of them to the slow node). Nodes tied at the
    /// slowest are named together: two nodes' one link cannot tell which of them is slow, and
    /// a fabric slow as a whole fails every node.
    func belowFloor(_ floor: Double) -> Findings {
        let pairs = pairValues(bandwidthGBps, metric: .bandwidth)
        var badNodes: [Outlier] = []
        var aside = Set<Int>()
        while true {
            let scores = nodes.indices.filter { !aside.contains($0) }.compactMap { k -> (k: Int, score: Double)? in
                let mine = pairs.filter { ($0.i == k || $0.j == k) && !aside.contains($0.i) && !aside.contains($0.j) }.map(\.value)
                return Self.median(mine).map { (k, $0) }
            }
            guard let worst = scores.min(by: { $0.score < $1.score }), worst.score < floor else { break }
            for t in scores where t.score == worst.score {
                badNodes.append(Outlier(nodes: [t.k], metric: .bandwidth, value: t.score, reference: floor, labels: [nodes[t.k]], isFloor: true))
                aside.insert(t.k)
            }
        }
        let badPairs = pairs.filter { $0.value < floor }.map {
            Outlier(nodes: [$0.i, $0.j], metric: .bandwidth, value: $0.value, reference: floor, labels: [nodes[$0.i], nodes[$0.j]], isFloor: true)
        }
        return Findings(nodes: badNodes, pairs: badPairs)
    }

    /// The outliers of one metric against the medians (`findings`), `isBad` ordering values.
    func analyse(_ matrix: [[Double?]], isBad: (Double, Double) -> Bool, metric: Outlier.Metric) -> Findings {
        let n = nodes.count
        let pairs = pairValues(matrix, metric: metric)
        guard pairs.count >= 2 else { return Findings(nodes: [], pairs: []) }
        var badNodes: [Outlier] = []
        if n >= 3 {
            // A node is slow when its typical link is far worse than the links between
            // the other nodes: comparing with pairs it is not in keeps its own slow
            // links out of the reference.
            for k in 0..<n {
                let mine = pairs.filter { $0.i == k || $0.j == k }.map(\.value)
                let others = pairs.filter { $0.i != k && $0.j != k }.map(\.value)
                guard let score = Self.median(mine), let reference = Self.median(others) else { continue }
                if isBad(score, reference) {
                    badNodes.append(Outlier(nodes: [k], metric: metric, value: score, reference: reference, labels: [nodes[k]]))
                }
            }
            // Every node bad means no node is: the reference itself is off.
            if badNodes.count * 2 >= n { badNodes = [] }
        }
        let badSet = Set(badNodes.flatMap(\.nodes))
        let healthy = pairs.filter { !badSet.contains($0.i) && !badSet.contains($0.j) }.map(\.value)
        guard let reference = Self.median(healthy.isEmpty ? pairs.map(\.value) : healthy) else { return Findings(nodes: badNodes, pairs: []) }
        let badPairs = pairs.filter { isBad($0.value, reference) }.map {
            Outlier(nodes: [$0.i, $0.j], metric: metric, value: $0.value, reference: reference, labels: [nodes[$0.i], nodes[$0.j]])
        }
        return Findings(nodes: badNodes, pairs: badPairs)
    }

    /// The median; the mean of the two middle values for an even count.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}

public struct PairMatrixOptions: Sendable {
    /// Message size for the bandwidth test (OSU-style window).
    var bandwidthSize: Int
    /// Message size for the latency ping-pong.
    var latencySize: Int
    var iterations: Int
    var latencyIterations: Int
    var window: Int
    /// Sweeps over all pairs; each pair keeps its best bandwidth and lowest latency.
    /// Noise from other work on a node only ever lowers bandwidth, while a bad link is
    /// slow in every sweep, so the best of a few sweeps separates the two.
    var rounds: Int

    public init(bandwidthSize: Int = 1 << 20, latencySize: Int = 8, iterations: Int = 10, latencyIterations: Int = 1000, window: Int = 64, rounds: Int = 3) {
        self.rounds = rounds
        self.bandwidthSize = bandwidthSize
        self.latencySize = latencySize
        self.iterations = iterations
        self.latencyIterations = latencyIterations
        self.window = window
    }
}

public enum PairMatrixBench {
    /// Measures every ordered pair in turn (one pair at a time, so pairs never share a
    /// link while measured). Each rank is one node; rank 0 gets the matrix, others an
    /// empty one. Labels are the MPI processor names, with `#rank` added where several
    /// ranks share a host.
    public static func run(_ options: PairMatrixOptions, on comm: Communicator) throws -> PairMatrix {
        let n = comm.size
        let rank = comm.rank
        guard n >= 2 else {
            throw BenchError(.wrongWorld, "matrix needs at least 2 ranks, one per node (mpirun --map-by ppr:1:node baton bench matrix)")
        }
        guard options.window >= 1, options.iterations >= 1, options.latencyIterations >= 1, options.bandwidthSize >= 1, options.rounds >= 1 else {
            throw BenchError(.badOption, "matrix: --iters, --latency-iters, --window, --rounds and --size must be at least 1")
        }
        let labels = try hostLabels(comm: comm)
        let buffer = MessageBuffer<UInt8>(repeating: 0x61, count: options.bandwidthSize)
        var ack = [UInt8](repeating: 0, count: 4)
        let small = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, options.latencySize))
        defer { small.deallocate() }
        small.initialize(repeating: 0x62)
        var smallBuffer = UnsafeMutableBufferPointer(rebasing: small[0..<options.latencySize])
        var group = RequestGroup(capacity: options.window)
        // Row i: what this rank measured as the sender (bandwidth) / initiator (latency).
        var myBandwidth = [Double](repeating: -1, count: n)
        var myLatency = [Double](repeating: -1, count: n)
        let warmup = max(1, options.iterations / 10)
        for _ in 0..<options.rounds {
            for sender in 0..<n {
                for receiver in 0..<n where receiver != sender {
                    try comm.quietBarrier()
                    if rank == sender {
                        var start = 0.0
                        for i in 0..<(warmup + options.iterations) {
                            if i == warmup { start = MPIEnvironment.wallTime() }
                            for _ in 0..<options.window { group.add(try comm.isend(buffer, to: receiver, tag: 300)) }
                            try group.waitAll()
                            try comm.receive(into: &ack, from: .rank(receiver), tag: .value(301))
                        }
                        let seconds = MPIEnvironment.wallTime() - start
                        let measured = PointToPointBench.bandwidthGBps(
                            size: options.bandwidthSize, iterations: options.iterations, window: options.window, seconds: seconds)
                        myBandwidth[receiver] = max(myBandwidth[receiver], measured)
                    } else if rank == receiver {
                        for _ in 0..<(warmup + options.iterations) {
                            for _ in 0..<options.window { group.add(try comm.irecv(into: buffer, from: .rank(sender), tag: .value(300))) }
                            try group.waitAll()
                            try comm.send(ack, to: sender, tag: 301)
                        }
                    }
                    // Latency is symmetric: measure it once per unordered pair.
                    guard sender < receiver else { continue }
                    try comm.quietBarrier()
                    let latencyWarmup = max(1, options.latencyIterations / 10)
                    if rank == sender {
                        var start = 0.0
                        for i in 0..<(latencyWarmup + options.latencyIterations) {
                            if i == latencyWarmup { start = MPIEnvironment.wallTime() }
                            try comm.send(smallBuffer, to: receiver, tag: 302)
                            try comm.receive(into: &smallBuffer, from: .rank(receiver), tag: .value(302))
                        }
                        let measured = PointToPointBench.latencyMicroseconds(
                            seconds: MPIEnvironment.wallTime() - start, iterations: options.latencyIterations)
                        myLatency[receiver] = myLatency[receiver] < 0 ? measured : min(myLatency[receiver], measured)
                    } else if rank == receiver {
                        for _ in 0..<(latencyWarmup + options.latencyIterations) {
                            try comm.receive(into: &smallBuffer, from: .rank(sender), tag: .value(302))
                            try comm.send(smallBuffer, to: sender, tag: 302)
                        }
                    }
                }
            }
        }
        var allBandwidth = [Double](repeating: -1, count: n * n)
        var allLatency = [Double](repeating: -1, count: n * n)
        try comm.allGather(myBandwidth, into: &allBandwidth)
        try comm.allGather(myLatency, into: &allLatency)
        var bw = [[Double?]](repeating: [Double?](repeating: nil, count: n), count: n)
        var lat = bw
        for i in 0..<n {
            for j in 0..<n where i != j {
                let b = allBandwidth[i * n + j]
                bw[i][j] = b >= 0 ? b : nil
                let l = i < j ? allLatency[i * n + j] : allLatency[j * n + i]
                lat[i][j] = l >= 0 ? l : nil
            }
        }
        return PairMatrix(nodes: labels, bandwidthGBps: bw, latencyMicroseconds: lat)
    }

    /// Every rank's processor name, gathered; names held by several ranks get `#rank`.
    static func hostLabels(comm: Communicator) throws -> [String] {
        let width = 256
        var mine = [UInt8](repeating: 0, count: width)
        let name = Array((try MPIEnvironment.processorName()).utf8.prefix(width - 1))
        mine.replaceSubrange(0..<name.count, with: name)
        var all = [UInt8](repeating: 0, count: width * comm.size)
        try comm.allGather(mine, into: &all)
        let names = (0..<comm.size).map { r in
            String(decoding: all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self)
        }
        return names.enumerated().map { r, name in
            names.filter { $0 == name }.count > 1 ? "\(name)#\(r)" : name
        }
    }

    /// The matrices as text: bandwidth rows are senders, columns receivers.
    public static func table(_ matrix: PairMatrix, findings: PairMatrix.Findings, bandwidthFraction: Double = 0.5, latencyFactor: Double = 3,
                             minBandwidthGBps: Double? = nil) -> String {
        let n = matrix.nodes.count
        let width = max(9, (matrix.nodes.map(\.count).max() ?? 0) + 2)
        func grid(_ title: String, _ values: [[Double?]], decimals: Int) -> [String] {
            var lines = ["# " + title]
            lines.append(BenchReport.pad("", width) + matrix.nodes.map { BenchReport.pad($0, width) }.joined())
            for i in 0..<n {
                lines.append(
                    BenchReport.pad(matrix.nodes[i], width)
                        + (0..<n).map { j in BenchReport.pad(values[i][j].map { formatFixed($0, decimals: decimals) } ?? "-", width) }.joined())
            }
            return lines
        }
        var lines = grid("bandwidth (GB/s, 1 GB = 1e9 bytes), row sends to column", matrix.bandwidthGBps, decimals: 3)
        lines.append("")
        lines += grid("latency (µs, half round trip)", matrix.latencyMicroseconds, decimals: 2)
        lines.append("")
        if findings.isEmpty {
            let floor = minBandwidthGBps.map { "\(BenchPlot.figure($0)) GB/s" } ?? "\(Int((bandwidthFraction * 100).rounded()))% of the median bandwidth"
            lines.append("# outliers: none (no pair under \(floor) or over \(formatFixed(latencyFactor, decimals: 1))x the median latency)")
        } else {
            lines.append("# outliers:")
            lines += findings.nodes.map { "  SLOW NODE  \($0)" }
            lines += findings.pairs.map { "  SLOW PAIR  \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ matrix: PairMatrix, findings: PairMatrix.Findings) -> String {
        func grid(_ values: [[Double?]]) -> BenchJSON { .array(values.map { .array($0.map { $0.map(BenchJSON.double) ?? .null }) }) }
        func outlier(_ o: PairMatrix.Outlier) -> BenchJSON {
            .object([("nodes", .array(o.labels.map(BenchJSON.string))), ("metric", .string(o.metric.rawValue)), ("value", .double(o.value)),
                     ("reference", .double(o.reference)), ("reference_is", .string(o.isFloor ? "floor" : "median"))])
        }
        return BenchJSON.object([
            ("suite", .string("matrix")),
            ("nodes", .array(matrix.nodes.map(BenchJSON.string))),
            ("units", .object([("bandwidth", .string("GB/s, 1 GB = 1e9 bytes")), ("latency", .string("microseconds, half round trip"))])),
            ("bandwidth_GBps", grid(matrix.bandwidthGBps)),
            ("latency_us", grid(matrix.latencyMicroseconds)),
            ("outlier_nodes", .array(findings.nodes.map(outlier))),
            ("outlier_pairs", .array(findings.pairs.map(outlier))),
        ]).renderedRows()
    }
}
