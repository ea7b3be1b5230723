import Testing
@testable import BatonGrid
@testable import BatonRuns

/// The early-stopping rules fed known curves, so the right decisions are known in advance.
@Suite("Early stopping policies (ASHA, median)")
struct EarlyStopPolicyTests {
    /// Feeds each config's curve in turn (configs one after another, as on one node) and
    /// returns every decision, in order.
    static func run(_ policy: inout some EarlyStopPolicy, _ curves: [(String, [(Double, Double)])]) -> [(String, EarlyStopDecision)] {
        var out: [(String, EarlyStopDecision)] = []
        for (config, curve) in curves {
            for (t, v) in curve {
                if case .decided(let d) = policy.decide(ProgressReport(config: config, time: t, value: v)) {
                    out.append((config, d))
                    if d.stop { break }
                }
            }
        }
        return out
    }

    static func flat(_ v: Double, epochs: Int = 27) -> [(Double, Double)] { (1...epochs).map { (Double($0), v) } }

    static func asha(mode: GridObjective.Mode = .max, brackets: Int = 1) -> AshaPolicy {
        AshaPolicy(grace: 1, reductionFactor: 3, maxT: 27, brackets: brackets, mode: mode, timeAttr: "epoch", metric: "acc")
    }

    @Test("ASHA rungs are grace·η^k below max_t; bracket s starts at grace·η^s")
    func milestones() {
        #expect(AshaPolicy.milestones(grace: 1, eta: 3, maxT: 27, bracket: 0) == [1, 3, 9])
        #expect(AshaPolicy.milestones(grace: 1, eta: 3, maxT: 27, bracket: 1) == [3, 9])
        #expect(AshaPolicy.milestones(grace: 2, eta: 2, maxT: 32, bracket: 0) == [2, 4, 8, 16])
    }

    @Test("ASHA keeps the top max(1, n/η) at each rung as configs arrive; the others stop at the rung they reach")
    func ashaKnownCurves() {
        var p = Self.asha()
        let decisions = Self.run(&p, [
            ("a", Self.flat(0.5)), ("b", Self.flat(0.3)), ("c", Self.flat(0.7)), ("d", Self.flat(0.6)),
            ("e", Self.flat(0.9)), ("f", Self.flat(0.1)),
            // Good at rung 0, then falls: stopped at rung 1 (epoch 3).
            ("g", [(1, 0.95), (2, 0.95), (3, 0.6), (4, 0.6)]),
        ])
        let stops = decisions.filter { $0.1.stop }
        #expect(stops.map(\.0) == ["b", "d", "f", "g"])
        #expect(stops.map { $0.1.rung } == [0, 0, 0, 1])
        // b: 2 at rung 0, keep 1, cutoff a's 0.5. f: 6 there, keep 2, cutoff 0.7.
        #expect(stops[0].1.cutoff == 0.5 && stops[0].1.peers == 2 && stops[0].1.value == 0.3)
        #expect(stops[2].1.cutoff == 0.7 && stops[2].1.peers == 6)
        // g at rung 1 (epoch 3): a 0.5, c 0.7, e 0.9 and g 0.6 there: keep 1, cutoff 0.9.
        #expect(stops[3].1.milestone == 3 && stops[3].1.cutoff == 0.9 && stops[3].1.peers == 4)
        #expect(stops[3].1.reason.hasPrefix("stopped at rung 1 (epoch 3): acc 0.6 vs cutoff 0.9, the top 1 of 4 there"))
        // The survivors are promoted at every rung, the last one included.
        for c in ["a", "c", "e"] {
            #expect(decisions.filter { $0.0 == c }.map { $0.1.rung } == [0, 1, 2])
            #expect(decisions.filter { $0.0 == c }.allSatisfy { !$0.1.stop })
        }
    }

    @Test("ASHA in min mode stops the larger values")
    func ashaMin() {
        var p = Self.asha(mode: .min)
        let d = Self.run(&p, [("a", Self.flat(0.5)), ("b", Self.flat(0.7)), ("c", Self.flat(0.2))])
        #expect(d.filter(\.1.stop).map(\.0) == ["b"])
        #expect(d.first { $0.0 == "b" }?.1.cutoff == 0.5)
        #expect(d.first { $0.0 == "b" }?.1.reason.contains("above it") == true)
    }

    @Test("a report past several rungs is judged at the highest; repeated or older progress is ignored")
    func ashaJumpsAndRepeats() {
        var p = Self.asha()
        #expect(p.decide(ProgressReport(config: "a", time: 0.5, value: 1)) == .recorded)
        guard case .decided(let d) = p.decide(ProgressReport(config: "a", time: 5, value: 1)) else {
            Issue.record("no decision at epoch 5")
            return
        }
        #expect(d.rung == 1 && !d.stop)
        #expect(p.decide(ProgressReport(config: "a", time: 5, value: 0)) == .ignored)
        #expect(p.decide(ProgressReport(config: "a", time: 4, value: 0)) == .ignored)
        #expect(p.decide(ProgressReport(config: "a", time: 8, value: 1)) == .recorded)
        #expect(p.recorded[0][0].isEmpty)  // rung 0 was jumped over
    }

    @Test("ASHA brackets: a config's bracket comes from its id, and its first rung is grace·η^s")
    func ashaBrackets() {
        let p = Self.asha(brackets: 2)
        #expect(p.bracket(of: "000000000004") == 0)
        #expect(p.bracket(of: "000000000005") == 1)
        var q = p
        #expect(q.decide(ProgressReport(config: "000000000005", time: 1, value: 1)) == .recorded)
        guard case .decided(let d) = q.decide(ProgressReport(config: "000000000005", time: 3, value: 1)) else {
            Issue.record("no decision at epoch 3")
            return
        }
        #expect(d.rung == 0 && d.milestone == 3)
    }

    @Test("replaying the same reports in the same order rebuilds the same decisions")
    func replayIsPure() {
        var a = Self.asha(), b = Self.asha()
        let curves: [(String, [(Double, Double)])] = [("x", Self.flat(0.4)), ("y", Self.flat(0.2)), ("z", Self.flat(0.8))]
        let first = Self.run(&a, curves).map { $0.1 }
        let second = Self.run(&b, curves).map { $0.1 }
        #expect(first == second)
    }

    @Test("median: stopped when its best so far is worse than the median of the others' running averages at that time")
    func medianKnownCurves() {
        var p = MedianStoppingPolicy(grace: 2, minSamples: 2, mode: .max, timeAttr: "epoch", metric: "acc")
        let decisions = Self.run(&p, [
            ("a", [(1, 0.5), (2, 0.6), (3, 0.7)]),
            ("b", [(1, 0.4), (2, 0.5), (3, 0.6)]),
            // At epoch 2: a's average 0.55, b's 0.45, median 0.5; c's best 0.1.
            ("c", [(1, 0.1), (2, 0.1), (3, 0.1)]),
            // At 2: a 0.55, b 0.45, c 0.1 -> median 0.45; at 3: a 0.6, b 0.5 -> 0.55. Best 0.6 both times.
            ("d", [(1, 0.6), (2, 0.6), (3, 0.6)]),
        ])
        #expect(decisions.filter { $0.1.stop }.map(\.0) == ["c"])
        let c = decisions.first { $0.0 == "c" }!.1
        #expect(c.milestone == 2 && abs(c.cutoff - 0.5) < 1e-12 && c.value == 0.1 && c.peers == 2)
        let d = decisions.filter { $0.0 == "d" }.map(\.1)
        #expect(d.count == 2 && d.allSatisfy { !$0.stop })
        #expect(abs(d[0].cutoff - 0.45) < 1e-12 && d[0].peers == 3)
        #expect(abs(d[1].cutoff - 0.55) < 1e-12 && d[1].peers == 2)
        // a and b never had enough others that reached their time.
        #expect(!decisions.contains { $0.0 == "a" || $0.0 == "b" })
    }

    @Test("median in min mode, and no decision before the grace")
    func medianMinAndGrace() {
        var p = MedianStoppingPolicy(grace: 3, minSamples: 1, mode: .min)
        _ = Self.run(&p, [("a", [(1, 1.0), (2, 1.0), (3, 1.0)])])
        #expect(p.decide(ProgressReport(config: "b", time: 1, value: 5)) == .recorded)
        #expect(p.decide(ProgressReport(config: "b", time: 2, value: 5)) == .recorded)
        guard case .decided(let d) = p.decide(ProgressReport(config: "b", time: 3, value: 5)) else {
            Issue.record("no decision at 3")
            return
        }
        #expect(d.stop && d.value == 5 && d.cutoff == 1)
    }
}
