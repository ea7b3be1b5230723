@testable import BatonLaunch
@testable import BatonProtocol
@testable import BatonRuns
import Foundation
import Testing

/// Hang detection: the watch's budgets, the classifier's rule 6, the culprit from stacks
/// recorded in real runs (Tests/Fixtures/stacks, from Examples/pytorch/train.py --fault under
/// `baton launch --local 2 --nproc-per-node 2`), and what the restart policy does with a hang.
@Suite struct HangTests {
    static let hosts = HostList(hosts: [Host(name: "n0", slots: 2), Host(name: "n1", slots: 2)])
    static let nodeOfRank = [0: "n0", 1: "n0", 2: "n1", 3: "n1"]

    /// Four ranks stepping every `every` seconds from t=0 for `steps` steps; returns the watch
    /// and the time of the last step.
    static func stepping(_ rule: ProgressWatch.Rule, steps: Int, every: Double) -> (ProgressWatch, Double) {
        var w = ProgressWatch(rule: rule)
        var t = 0.0
        for n in 1...steps {
            t = Double(n) * every
            for r in 0..<4 { w.record(.step(n), rank: r, node: nodeOfRank[r]!, at: t) }
        }
        return (w, t)
    }

    @Test("auto: after the warm-up the budget is 5 x p99 of the step times, at least 10 s; one rank past it is found, none before")
    func autoBudget() throws {
        var (w, last) = Self.stepping(ProgressWatch.Rule(), steps: 20, every: 0.05)
        #expect(w.overdue(at: last + 9.9) == nil)
        #expect(w.nextDeadline() == last + 10)
        // Ranks 0-2 go on, rank 3 stops.
        for r in 0..<3 { w.record(.step(21), rank: r, node: Self.nodeOfRank[r]!, at: last + 0.05) }
        let f = try #require(w.overdue(at: last + 10.01))
        #expect(f.rank == 3 && f.node == "n1")
        #expect(f.budget == 10)
        #expect(f.rule.contains("p99"))
        #expect(f.lastSteps[3] == 20 && f.lastSteps[0] == 21)
    }

    @Test("auto with slow steps: the budget grows with them (5 x p99), so a 4 s step is no hang")
    func slowStepsGrowTheBudget() {
        var (w, last) = Self.stepping(ProgressWatch.Rule(), steps: 10, every: 4)
        #expect(w.overdue(at: last + 19.9) == nil)
        #expect(w.overdue(at: last + 20.1) != nil)
        w.record(.step(11), rank: 0, node: "n0", at: last + 4)
        #expect(w.budget(w.ranks[0]!).seconds == 20)
    }

    @Test("before the warm-up ends only the start budget applies; a rank that never steps is never judged")
    func warmUpAndSilentRanks() {
        var rule = ProgressWatch.Rule()
        rule.startTimeout = 60
        var w = ProgressWatch(rule: rule)
        w.record(.armed(pid: 10), rank: 0, node: "n0", at: 0)
        w.record(.armed(pid: 11), rank: 1, node: "n0", at: 0)
        #expect(w.nextDeadline() == nil)  // armed only: no rank has stepped, none is watched
        w.record(.step(1), rank: 0, node: "n0", at: 5)
        #expect(w.overdue(at: 64.9) == nil)
        #expect(w.overdue(at: 65.1)?.rank == 0)
        #expect(w.overdue(at: 1000)?.lastSteps.keys.sorted() == [0])  // rank 1 (never a step) is not judged
    }

    @Test("after a restart, a rank that stepped before is watched from its armed mark: a rendezvous that never completes is a hang")
    func restartRendezvous() {
        var rule = ProgressWatch.Rule()
        rule.startTimeout = 30
        rule.steppedBefore = [0, 1, 2, 3]
        var w = ProgressWatch(rule: rule)
        for r in 0..<2 { w.record(.armed(pid: Int32(r)), rank: r, node: "n0", at: 1) }
        #expect(w.overdue(at: 30.9) == nil)
        let f = w.overdue(at: 31.1)
        #expect(f?.rank == 0 && f?.rule.contains("start budget") == true)
    }

    @Test("a marked phase has its own budget: first the phase timeout, then 5 x its longest run; leaving it is progress")
    func phases() {
        var rule = ProgressWatch.Rule()
        rule.timeout = .fixed(1)
        rule.phaseTimeout = 100
        var (w, last) = Self.stepping(rule, steps: 10, every: 0.05)
        for r in 0..<4 { w.record(.phase("eval"), rank: r, node: Self.nodeOfRank[r]!, at: last) }
        #expect(w.overdue(at: last + 50) == nil)  // 1000 steps long: no hang inside the phase
        for r in 0..<4 { w.record(.phase(nil), rank: r, node: Self.nodeOfRank[r]!, at: last + 50) }
        #expect(w.overdue(at: last + 50.9) == nil)
        #expect(w.overdue(at: last + 51.1) != nil)  // back to the step budget (fixed 1 s)
        w.record(.phase("eval"), rank: 0, node: "n0", at: last + 51)
        #expect(w.budget(w.ranks[0]!).seconds == 250)  // 5 x 50 s
    }

    @Test("off watches nothing; a rank that ended is no longer watched")
    func offAndEnded() {
        var (w, last) = Self.stepping(ProgressWatch.Rule(timeout: .off), steps: 10, every: 0.05)
        #expect(w.overdue(at: last + 1e6) == nil)
        (w, last) = Self.stepping(ProgressWatch.Rule(timeout: .fixed(2)), steps: 10, every: 0.05)
        for r in 0..<4 { w.ended(rank: r) }
        #expect(w.overdue(at: last + 100) == nil)
        #expect(w.nextDeadline() == nil)
    }

    @Test("--hang-timeout parses auto, off and durations, and nothing else")
    func timeoutParsing() {
        #expect(HangTimeout.parse("auto") == .auto)
        #expect(HangTimeout.parse("off") == .off)
        #expect(HangTimeout.parse("90s") == .fixed(90))
        #expect(HangTimeout.parse("0s") == nil)
        #expect(HangTimeout.parse("soon") == nil)
        var s = HangSettings()
        s.progressPattern = "step ("
        #expect(throws: LaunchError.self) { try s.rule() }
    }

    // MARK: the classifier

    @Test("the classifier stops a hung attempt (rule 6) only after the node rules: a silent node is lost, not hung")
    func classifierRuleSix() throws {
        var settings = LossClassifier.Settings(heartbeatTimeout: 5, startupTimeout: 30, nodeLossWindow: 1, grace: 3)
        settings.progress = ProgressWatch.Rule(timeout: .fixed(2))
        var c = LossClassifier(hosts: Self.hosts, settings: settings, start: 0)
        func line(_ t: Double, _ kind: TaggedLine.Kind, _ rank: Int, _ payload: String) -> LossAction? {
            c.handle(.tagged(TaggedLine(kind: kind, node: Self.nodeOfRank[rank]!, rank: rank, payload: payload)), at: t)
        }
        for n in 1...3 { for r in 0..<4 { _ = line(Double(n), .prog, r, "step \(n)") } }
        // Heartbeats go on: every node is alive, no rank steps.
        for t in stride(from: 3.5, through: 4.5, by: 0.5) { for r in 0..<4 { _ = line(t, .hb, r, "1") } }
        #expect(c.handle(.tick, at: 4.9) == nil)
        #expect(c.nextDeadline() == 5)
        guard case .hung(let f)? = c.handle(.tick, at: 5.01) else { Issue.record("no hang"); return }
        #expect(f.stalledFor > 2)
        // A node gone silent while the steps stopped: the hang (due at 7) waits, and the node
        // is lost at 8 (heartbeat timeout 5 s after its last line at 3).
        settings.progress = ProgressWatch.Rule(timeout: .fixed(4))
        var lossFirst = LossClassifier(hosts: Self.hosts, settings: settings, start: 0)
        for n in 1...3 {
            for r in 0..<4 { _ = lossFirst.handle(.tagged(TaggedLine(kind: .prog, node: Self.nodeOfRank[r]!, rank: r, payload: "step \(n)")), at: Double(n)) }
        }
        for t in stride(from: 4.0, through: 7.9, by: 0.5) {
            #expect(lossFirst.handle(.tagged(TaggedLine(kind: .hb, node: "n0", rank: 0, payload: "1")), at: t) == nil)
        }
        guard case .nodesLost(let v, _)? = lossFirst.handle(.tick, at: 8.05) else { Issue.record("no loss"); return }
        #expect(v.lost.map(\.node) == ["n1"])
    }

    @Test("transcripts recorded before hang detection decode with it off")
    func oldSettingsDecode() throws {
        let old = #"{"heartbeatTimeout":5,"startupTimeout":30,"nodeLossWindow":1,"grace":3,"agentCutoff":0.15,"agentSettle":0.25}"#
        let s = try JSONDecoder().decode(LossClassifier.Settings.self, from: Data(old.utf8))
        #expect(s.progress == nil)
    }

    // MARK: the culprit

    static func stacks(_ dir: String) throws -> [Int: String] {
        let base = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stacks/\(dir)")
        var out: [Int: String] = [:]
        for r in 0..<4 { out[r] = try String(contentsOf: base.appendingPathComponent("rank-\(r).txt"), encoding: .utf8) }
        return out
    }

    static func finding(overdue rank: Int, steps: [Int: Int?]) -> HangFinding {
        HangFinding(rank: rank, node: nodeOfRank[rank]!, stalledFor: 10, budget: 10, rule: "test", lastSteps: steps)
    }

    @Test("a rank asleep while the others wait in the gradient all_reduce is named from the stacks (recorded)")
    func sleeperNamed() throws {
        let v = HangJudge.culprit(Self.finding(overdue: 0, steps: [0: 5, 1: 5, 2: 5, 3: 5]), stacks: try Self.stacks("hang-sleep"),
                                  nodeOfRank: Self.nodeOfRank)
        #expect(v.rank == 3 && v.node == "n1")
        #expect(v.frame?.contains("train.py") == true)
        #expect(v.reason.contains("unlike the 3 others"))
    }

    @Test("a collective only rank 0 calls is named from the stacks (recorded): rank 0 is in all_reduce, the others in backward")
    func mismatchNamed() throws {
        let v = HangJudge.culprit(Self.finding(overdue: 2, steps: [0: 5, 1: 5, 2: 5, 3: 5]), stacks: try Self.stacks("mismatch"),
                                  nodeOfRank: Self.nodeOfRank)
        #expect(v.rank == 0)
        #expect(v.frame?.contains("all_reduce") == true)
    }

    @Test("a rank behind the others' step is named before any stack is read; with no odd stack out the first overdue rank is")
    func behindAndFallback() throws {
        let behind = HangJudge.culprit(Self.finding(overdue: 0, steps: [0: 9, 1: 9, 2: 8, 3: 9]), stacks: [:], nodeOfRank: Self.nodeOfRank)
        #expect(behind.rank == 2 && behind.reason.contains("step 8"))
        let same = try Self.stacks("hang-sleep").mapValues { _ in "Current thread 1 (most recent call first):\n  File \"x.py\", line 1 in f\n" }
        let none = HangJudge.culprit(Self.finding(overdue: 1, steps: [0: 5, 1: 5, 2: 5, 3: 5]), stacks: same, nodeOfRank: Self.nodeOfRank)
        #expect(none.rank == 1 && none.reason.contains("first"))
    }

    @Test("native stacks (eu-stack) are read frame by frame, addresses left out")
    func nativeFrames() throws {
        let base = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: base.appendingPathComponent("Fixtures/stacks/eu-stack-sleep.txt"), encoding: .utf8)
        let frames = HangJudge.mainThreadFrames(text)
        #expect(frames.first == "wait4")
        #expect(!frames.contains { $0.hasPrefix("0x") })
    }

    // MARK: the policy

    static func hung(_ attempt: Int, on node: String) -> AttemptRecord {
        var r = AttemptRecord(attempt: attempt, nodes: hosts.names, worldSize: 4)
        r.outcome = .hung
        r.failedRank = 3
        r.failedNode = node
        r.detail = "rank 3 on \(node): asleep"
        return r
    }

    @Test("a hang restarts on the same nodes; a second on the same node leaves it out; exclude and fail do as they say")
    func policy() {
        var p = RestartPolicy(maxRestarts: 3, minNodes: 1, onRankFailure: .fail, firstAttempt: 1)
        guard case .restart(let same, let lost, _, _) = p.decide(after: Self.hung(1, on: "n1"), on: Self.hosts) else { Issue.record("no restart"); return }
        #expect(same == Self.hosts && lost.isEmpty)
        guard case .restart(let without, let left, _, let message) = p.decide(after: Self.hung(2, on: "n1"), on: Self.hosts, earlier: [Self.hung(1, on: "n1")])
        else { Issue.record("no restart"); return }
        #expect(without.names == ["n0"] && left == ["n1"] && message.contains("second hang"))
        p.onHang = .exclude
        if case .restart(let h, _, _, _) = p.decide(after: Self.hung(1, on: "n0"), on: Self.hosts) { #expect(h.names == ["n1"]) } else { Issue.record("no restart") }
        p.onHang = .fail
        if case .finish(.failed, _, 4) = p.decide(after: Self.hung(1, on: "n0"), on: Self.hosts) {} else { Issue.record("not failed") }
    }
}
