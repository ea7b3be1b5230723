@testable import BatonLaunch
@testable import BatonProtocol
import Testing

/// `--health-check bandwidth`: the floor's spellings, the bench's JSON judged into verdicts,
/// and the pool's rule 6 (measure the proposal, a convicted node's place to a spare).
@Suite struct BandwidthGateTests {
    @Test("--health-min-bandwidth is a percentage of the median link or a rate with its unit, passed to bench matrix as its own judgement")
    func floors() {
        #expect(BandwidthFloor.parse("50%") == .fraction(0.5))
        #expect(BandwidthFloor.parse("12.5%")?.description == "12.5%")
        #expect(BandwidthFloor.parse("10%")?.benchArguments == ["--threshold", "0.1"])
        #expect(BandwidthFloor.parse("2GB/s") == .rate("2GB/s", gigabytesPerSecond: 2))
        #expect(BandwidthFloor.parse("10Gbit/s")?.benchArguments == ["--min-bandwidth", "10Gbit/s"])
        for bad in ["0%", "100%", "x%", "2", "2GB", "fast"] { #expect(BandwidthFloor.parse(bad) == nil, "\(bad)") }
    }

    /// What `bench matrix --json` prints for 3 nodes, the third throttled.
    static let throttled = """
        {"suite": "matrix", "nodes": ["bw-n1", "bw-n2", "bw-n3"],
         "bandwidth_GBps": [[null, 1.2, 0.006], [1.1, null, 0.006], [0.006, 0.006, null]],
         "outlier_nodes": [{"nodes": ["bw-n3"], "metric": "bandwidth", "value": 0.006, "reference": 1.1, "reference_is": "median"},
                           {"nodes": ["bw-n2"], "metric": "latency", "value": 900, "reference": 30, "reference_is": "median"}],
         "outlier_pairs": [{"nodes": ["bw-n1", "bw-n3"], "metric": "bandwidth", "value": 0.006, "reference": 1.1},
                           {"nodes": ["bw-n2", "bw-n3"], "metric": "bandwidth", "value": 0.006, "reference": 1.1}]}
        """

    @Test("a slow node is convicted with its figure and the reference; latency is not the floor's business; rank i is the i-th node whatever its processor name")
    func judgesSlowNode() {
        let r = BandwidthRound.judge("noise before\n" + Self.throttled, nodes: ["n1", "n2", "n3"], floor: .fraction(0.1))
        #expect(r == .judged(failed: ["n3": "bandwidth 0.006 GB/s (the median of its links), under 10% of the other links' median 1.10 GB/s (--health-min-bandwidth 10%)"],
                             slowLinks: []))
        let abs = BandwidthRound.judge(Self.throttled.replacingOccurrences(of: "\"median\"", with: "\"floor\""), nodes: ["n1", "n2", "n3"],
                                       floor: .rate("1GB/s", gigabytesPerSecond: 1))
        #expect(abs == .judged(failed: ["n3": "bandwidth 0.006 GB/s (the median of its links), under the floor (--health-min-bandwidth 1GB/s)"], slowLinks: []))
    }

    @Test("a slow link whose ends are fast with their other partners blames no node and is reported")
    func slowLinkOnly() {
        let out = """
            {"nodes": ["a", "b", "c", "d"], "outlier_nodes": [],
             "outlier_pairs": [{"nodes": ["a", "b"], "metric": "bandwidth", "value": 0.3, "reference": 2.0}]}
            """
        #expect(BandwidthRound.judge(out, nodes: ["a", "b", "c", "d"], floor: .fraction(0.5)) == .judged(failed: [:], slowLinks: [.init(nodes: ["a", "b"], gigabytesPerSecond: 0.3)]))
        #expect(BandwidthRound.SlowLink(nodes: ["a", "b"], gigabytesPerSecond: 0.3).description == "a <-> b 0.300 GB/s")
    }

    @Test("no matrix, or one of other nodes, is no figures: nothing convicted")
    func noFigures() {
        #expect(BandwidthRound.judge("", nodes: ["a", "b"], floor: .fraction(0.5)) == .noFigures("bench matrix gave no matrix"))
        #expect(BandwidthRound.judge(Self.throttled, nodes: ["a", "b"], floor: .fraction(0.5)) == .noFigures("bench matrix gave no matrix"))
    }

    @Test("a conviction stands only when the confirming round convicts the same node (noise only lowers figures); a round without figures leaves the other's verdicts")
    func confirmation() {
        let cd = BandwidthRound.SlowLink(nodes: ["c", "d"], gigabytesPerSecond: 0.1), ef = BandwidthRound.SlowLink(nodes: ["e", "f"], gigabytesPerSecond: 0.1)
        let first = BandwidthRound.judged(failed: ["a": "slow 1", "b": "slow 1"], slowLinks: [cd, ef])
        let second = BandwidthRound.judged(failed: ["b": "slow 2", "c": "slow 2"], slowLinks: [.init(nodes: ["e", "f"], gigabytesPerSecond: 0.2)])
        #expect(BandwidthRound.confirmed(first, by: second) == .judged(failed: ["b": "slow 2"], slowLinks: [ef]))
        #expect(BandwidthRound.confirmed(first, by: .noFigures("timed out")) == first)
        #expect(first.convicts && second.convicts && !BandwidthRound.judged(failed: [:], slowLinks: []).convicts)
        #expect(!BandwidthRound.noFigures("x").convicts)
    }

    static func pool(_ names: [String], _ range: String) -> HostPool {
        HostPool(hosts: HostList(hosts: names.map { Host(name: $0, slots: 2) }), range: try! NodeRange.parse(range), coolDown: 60,
                 gating: true, measuring: true, now: 0)
    }

    /// Runs `select` to its end: every gated node passes; a measured proposal convicts the
    /// nodes of `slow` in it. Returns the selection and the steps asked for.
    static func settle(_ pool: inout HostPool, slow: Set<String>) -> (HostPool.Selection, [String]) {
        var verdicts: [String: GateVerdict] = [:]
        var measured: [String]?
        var steps: [String] = []
        for _ in 0..<20 {
            let s = pool.select(now: 1, verdicts: verdicts, measured: measured)
            switch s {
            case .gate(let names):
                steps.append("gate " + names.joined(separator: ","))
                for n in names { verdicts[n] = .passed }
            case .measure(let names):
                steps.append("measure " + names.joined(separator: ","))
                let convicted = names.filter(slow.contains)
                if convicted.isEmpty { measured = names }
                for n in convicted { verdicts[n] = .failed("slow") }
            default: return (s, steps)
            }
        }
        return (.tooFew("did not settle", changes: []), steps)
    }

    @Test("rule 6: the gated proposal is measured; a slow node becomes suspect, the spare takes its place, is gated, and the new proposal measured again")
    func spareForSlowNode() {
        var p = Self.pool(["a", "b", "c", "d"], "3")
        let (s, steps) = Self.settle(&p, slow: ["b"])
        #expect(steps == ["gate a,b,c", "measure a,b,c", "gate d", "measure a,d,c"])
        #expect(s == .start(HostList(hosts: ["a", "d", "c"].map { Host(name: $0, slots: 2) }),
                            changes: [.suspect(node: "b", reason: "slow"), .spareIn(spare: "d", replacing: "b")]))
        #expect(p.member("b")?.state == .suspect && p.member("b")?.reason == "slow")
    }

    @Test("rule 6: a slow node and no spare: --nnodes MIN:MAX shrinks, --nnodes N cannot start; one node is never measured")
    func noSpare() {
        var shrink = Self.pool(["a", "b", "c"], "2:3")
        let (s, steps) = Self.settle(&shrink, slow: ["c"])
        #expect(steps == ["gate a,b,c", "measure a,b,c", "measure a,b"])
        #expect(s == .start(HostList(hosts: ["a", "b"].map { Host(name: $0, slots: 2) }), changes: [.suspect(node: "c", reason: "slow"), .dropped(node: "c")]))
        var fixed = Self.pool(["a", "b", "c"], "3")
        guard case .tooFew = Self.settle(&fixed, slow: ["c"]).0 else { Issue.record("started on fewer than 3"); return }
        var one = Self.pool(["a", "b"], "1")
        #expect(Self.settle(&one, slow: ["a"]).1 == ["gate a"])
    }

    @Test("without --health-check bandwidth nothing is measured")
    func notMeasuring() {
        var p = HostPool(hosts: HostList(hosts: ["a", "b"].map { Host(name: $0, slots: 1) }), range: NodeRange(min: 2, max: 2), coolDown: 1,
                         gating: true, now: 0)
        #expect(Self.settle(&p, slow: ["a"]).1 == ["gate a,b"])
    }
}
