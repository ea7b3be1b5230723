import BatonSupport
import Foundation

/// `--health-min-bandwidth`: the floor `--health-check bandwidth` holds a node's links to.
/// `N%` (the default, 50%): of the median of the links among the other nodes, the judgement
/// of `bench matrix --threshold` (a node whose median link is under that fraction); or a rate
/// (`2GB/s`, `10Gbit/s`: `bench matrix --min-bandwidth`), a node whose median link is under it.
/// The relative floor needs no knowledge of the fabric and finds the node that is off against
/// its peers (a bad cable, NIC or switch port); it needs three nodes, and misses a fabric slow
/// as a whole, which a rate catches.
public enum BandwidthFloor: Sendable, Equatable, CustomStringConvertible {
    case fraction(Double)
    /// The text as given, and the rate in GB/s.
    case rate(String, gigabytesPerSecond: Double)

    public static func parse(_ text: String) -> BandwidthFloor? {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast().filter { $0 != " " }), p > 0, p < 100 else { return nil }
            return .fraction(p / 100)
        }
        return BandwidthRate.gigabytesPerSecond(text).map { .rate(text, gigabytesPerSecond: $0) }
    }

    /// The arguments of `bench matrix` that make its judgement this floor.
    var benchArguments: [String] {
        switch self {
        case .fraction(let f): ["--threshold", String(f)]
        case .rate(let text, _): ["--min-bandwidth", text]
        }
    }

    public var description: String {
        switch self {
        case .fraction(let f): (f * 100 == (f * 100).rounded() ? Figure.fixed(f * 100, decimals: 0) : Figure.fixed(f * 100, decimals: 1)) + "%"
        case .rate(let text, _): text
        }
    }
}

/// What one round of `bench matrix` among an attempt's nodes found (pure: the bench's JSON in,
/// verdicts out). The judgement is the bench's own (its `outlier_nodes`, metric bandwidth);
/// a slow pair whose ends are not slow nodes (one bad cable) is reported, no node is blamed.
enum BandwidthRound: Sendable, Equatable {
    /// A link under the floor whose two nodes are not (one bad cable): "a <-> b 0.01 GB/s".
    struct SlowLink: Sendable, Equatable, CustomStringConvertible {
        var nodes: [String]
        var gigabytesPerSecond: Double
        var description: String { nodes.joined(separator: " <-> ") + " \(Figure.short(gigabytesPerSecond)) GB/s" }
    }

    /// Each convicted node (by name) with the reason the gate records; the slow links no
    /// node explains.
    case judged(failed: [String: String], slowLinks: [SlowLink])
    /// No figures to judge (the round failed or timed out): why.
    case noFigures(String)

    /// `stdout` of `bench matrix --json` run with rank i on `nodes[i]`.
    static func judge(_ stdout: String, nodes: [String], floor: BandwidthFloor) -> BandwidthRound {
        guard let start = stdout.firstIndex(of: "{"), let end = stdout.lastIndex(of: "}"),
              let obj = try? JSONSerialization.jsonObject(with: Data(stdout[start...end].utf8)) as? [String: Any],
              let labels = obj["nodes"] as? [String], labels.count == nodes.count else {
            return .noFigures("bench matrix gave no matrix")
        }
        // The bench names nodes by processor name; rank i is nodes[i].
        func names(_ o: [String: Any]) -> [String] { ((o["nodes"] as? [String]) ?? []).compactMap { labels.firstIndex(of: $0).map { nodes[$0] } } }
        func bandwidth(_ key: String) -> [[String: Any]] {
            ((obj[key] as? [[String: Any]]) ?? []).filter { $0["metric"] as? String == "bandwidth" }
        }
        var failed: [String: String] = [:]
        for o in bandwidth("outlier_nodes") {
            guard let n = names(o).first, let value = o["value"] as? Double, let ref = o["reference"] as? Double else { continue }
            let under = switch floor {
            case .fraction: "under \(floor) of the other links' median \(Figure.short(ref)) GB/s"
            case .rate: "under the floor"
            }
            failed[n] = "bandwidth \(Figure.short(value)) GB/s (the median of its links), \(under) (--health-min-bandwidth \(floor))"
        }
        let slow = bandwidth("outlier_pairs").compactMap { o -> SlowLink? in
            let ends = names(o)
            guard ends.count == 2, !ends.contains(where: { failed[$0] != nil }), let value = o["value"] as? Double else { return nil }
            return SlowLink(nodes: ends, gigabytesPerSecond: value)
        }
        return .judged(failed: failed, slowLinks: slow)
    }

    /// A round that convicted nodes, and the confirming round measured right after it among
    /// the same nodes: only a node convicted by both fails (with the second figure), only a
    /// link slow in both is reported. Noise from other work only ever lowers a figure, while
    /// a slow node or link is slow every time; on the loaded test bed one round alone
    /// convicted a healthy node of three (docs/benchmarks.md). No figures in the second
    /// round: the first one's verdicts stand.
    static func confirmed(_ first: BandwidthRound, by second: BandwidthRound) -> BandwidthRound {
        guard case .judged(let failed1, let slow1) = first else { return second }
        guard case .judged(let failed2, let slow2) = second else { return first }
        let again = Set(slow2.map(\.nodes))
        return .judged(failed: failed2.filter { failed1[$0.key] != nil }, slowLinks: slow1.filter { again.contains($0.nodes) })
    }

    /// Whether the round convicted a node or found a slow link (a confirming round is due).
    var convicts: Bool {
        if case .judged(let failed, let slow) = self { return !failed.isEmpty || !slow.isEmpty }
        return false
    }
}
