@testable import BatonLaunch
@testable import BatonProtocol
@testable import BatonRuns
import Testing

@Suite struct HostPoolTests {
    static func hosts(_ names: String...) -> HostList { HostList(hosts: names.map { Host(name: $0, slots: 2) }) }
    static func pool(_ list: HostList, _ range: String, gating: Bool = true, coolDown: Double = 60) -> HostPool {
        HostPool(hosts: list, range: try! NodeRange.parse(range), coolDown: coolDown, gating: gating, now: 0)
    }
    /// Runs `select` to its end, passing every node the gate is asked about unless `failing`
    /// names it; returns the selection and the nodes gated, in order.
    static func settle(_ pool: inout HostPool, now: Double, failing: [String: String] = [:]) -> (HostPool.Selection, [[String]]) {
        var verdicts: [String: GateVerdict] = [:]
        var asked: [[String]] = []
        while true {
            let s = pool.select(now: now, verdicts: verdicts)
            guard case .gate(let names) = s else { return (s, asked) }
            asked.append(names)
            for n in names { verdicts[n] = failing[n].map { .failed($0) } ?? .passed }
        }
    }

    @Test("--nnodes parses N and MIN:MAX and refuses the rest")
    func parsesRanges() throws {
        #expect(try NodeRange.parse("3") == NodeRange(min: 3, max: 3))
        #expect(try NodeRange.parse("2:4") == NodeRange(min: 2, max: 4))
        for bad in ["0", "3:2", "a", "1:2:3", "", ":3"] { #expect(throws: LaunchError.self) { try NodeRange.parse(bad) } }
    }

    @Test("hosts beyond MAX are spares; the first attempt runs on the first MAX, every one gated first")
    func firstAttempt() {
        var p = Self.pool(Self.hosts("a", "b", "c", "d"), "3")
        #expect(p.names(.spare) == ["d"])
        let (s, asked) = Self.settle(&p, now: 1)
        #expect(asked == [["a", "b", "c"]])
        #expect(s == .start(Self.hosts("a", "b", "c"), changes: []))
    }

    @Test("a lost node's place goes to a spare, in the same place: the world size and every survivor's rank stay")
    func spareTakesThePlace() {
        var p = Self.pool(Self.hosts("a", "b", "c", "d"), "3")
        _ = Self.settle(&p, now: 1)
        p.lose(["b"], reason: "daemon lost", at: 2)
        let (s, asked) = Self.settle(&p, now: 3)
        #expect(asked == [["a", "d", "c"]])
        #expect(s == .start(Self.hosts("a", "d", "c"), changes: [.spareIn(spare: "d", replacing: "b")]))
        #expect(p.names(.lost) == ["b"])
        #expect(p.names(.spare).isEmpty)
    }

    @Test("with no spare left the world shrinks down to MIN, and below MIN the launch cannot go on")
    func shrinksToMin() {
        var p = Self.pool(Self.hosts("a", "b", "c"), "2:3")
        _ = Self.settle(&p, now: 1)
        p.lose(["c"], reason: "lost", at: 2)
        #expect(Self.settle(&p, now: 3).0 == .start(Self.hosts("a", "b"), changes: [.dropped(node: "c")]))
        p.lose(["a"], reason: "lost", at: 4)
        guard case .tooFew(let why, _) = Self.settle(&p, now: 5).0 else { Issue.record("not too few"); return }
        #expect(why.hasPrefix("1 nodes can run the job, at least 2 are needed (--nnodes MIN, else --min-nodes) (a lost: lost"))
    }

    @Test("a lost node rejoins as a spare after --cool-down and a passing gate, and the world grows back to MAX")
    func rejoinAndGrow() {
        var p = Self.pool(Self.hosts("a", "b", "c"), "2:3", coolDown: 10)
        _ = Self.settle(&p, now: 1)
        p.lose(["c"], reason: "lost", at: 2)
        _ = Self.settle(&p, now: 3)
        // Not yet: its cool-down runs until 12, and nothing asks the gate about it.
        let (early, askedEarly) = Self.settle(&p, now: 11)
        #expect(early == .start(Self.hosts("a", "b"), changes: []))
        #expect(askedEarly == [["a", "b"]])
        let (s, asked) = Self.settle(&p, now: 12)
        #expect(asked == [["c", "a", "b"]])
        #expect(s == .start(Self.hosts("a", "b", "c"), changes: [.rejoined(node: "c"), .spareIn(spare: "c", replacing: nil)]))
    }

    @Test("a node failing the gate is suspect and never started on; a spare takes its place, itself gated first")
    func gateFailure() {
        var p = Self.pool(Self.hosts("a", "b", "c", "d"), "3")
        let (s, asked) = Self.settle(&p, now: 1, failing: ["b": "/run is not writable"])
        #expect(asked == [["a", "b", "c"], ["d"]])
        #expect(s == .start(Self.hosts("a", "d", "c"), changes: [.suspect(node: "b", reason: "/run is not writable"),
                                                                  .spareIn(spare: "d", replacing: "b")]))
        #expect(p.member("b")?.state == .suspect)
        #expect(p.member("b")?.reason == "/run is not writable")
    }

    @Test("a rejoin that fails the gate stays suspect and waits again, twice the cool-down")
    func failedRejoin() {
        var p = Self.pool(Self.hosts("a", "b", "c"), "2:3", coolDown: 10)
        _ = Self.settle(&p, now: 1)
        p.lose(["c"], reason: "lost", at: 2)
        let (s, _) = Self.settle(&p, now: 20, failing: ["c": "no answer"])
        #expect(s == .start(Self.hosts("a", "b"), changes: [.suspect(node: "c", reason: "no answer"), .dropped(node: "c")]))
        #expect(p.member("c")?.since == 20)
        #expect(p.standby(now: 39) == 0)
        #expect(p.standby(now: 40) == 1)
    }

    @Test("without --nnodes or a gate the pool decides what the launch always did: the survivors, nothing gated")
    func withoutSparesItIsTheSurvivors() {
        var p = Self.pool(Self.hosts("a", "b", "c"), "1:3", gating: false)
        let (first, gated) = Self.settle(&p, now: 1)
        #expect(first == .start(Self.hosts("a", "b", "c"), changes: []))
        #expect(gated.isEmpty)
        p.lose(["b"], reason: "lost", at: 2)
        let (s, asked) = Self.settle(&p, now: 3)
        #expect(asked.isEmpty)
        #expect(s == .start(Self.hosts("a", "c"), changes: [.dropped(node: "b")]))
        #expect(p.standby(now: 1000) == 0)
    }

    @Test("the restart policy counts spares with the survivors against --min-nodes")
    func policyCountsStandby() {
        let policy = RestartPolicy(maxRestarts: 2, minNodes: 3, onRankFailure: .fail, firstAttempt: 1)
        let h = Self.hosts("a", "b", "c")
        var r = AttemptRecord(attempt: 1, nodes: h.names, worldSize: 6)
        r.outcome = .nodesLost
        r.lost = [LostNode(node: "b", ranks: [], signal: .agentEnded, cause: "", detectionSeconds: 0)]
        if case .finish = policy.decide(after: r, on: h) {} else { Issue.record("restarted without a spare") }
        guard case .restart(let next, let lost, _, let message) = policy.decide(after: r, on: h, standby: 1) else {
            Issue.record("no restart with a spare"); return
        }
        #expect(next.names == ["a", "c"])
        #expect(lost == ["b"])
        #expect(message == "lost b; restarting on the survivors and spares (restart 1 of 2)")
    }

    @Test("the pool's sentence names the spare and whether WORLD_SIZE stayed")
    func describes() {
        #expect(HostPool.describe([.spareIn(spare: "d", replacing: "b")], world: 6, after: 6) == "spare d for b; WORLD_SIZE stays 6")
        #expect(HostPool.describe([.rejoined(node: "c"), .spareIn(spare: "c", replacing: nil)], world: 4, after: 6)
                == "c rejoined as a spare, c added; WORLD_SIZE 4 -> 6")
        #expect(HostPool.describe([.dropped(node: "c")], world: 6, after: 4) == nil)
    }

    @Test("--resume keeps the last attempt's nodes in their places and the store's spare, suspect and lost nodes as they were")
    func resumesThePool() {
        var p = Self.pool(Self.hosts("a", "b", "c", "d", "e"), "3")
        // The earlier head: attempt 2 ran on a, d, c (d in b's place); b lost at 100, e a spare.
        let rows = [LaunchNodeRow(name: "a", position: 0, state: .healthy, since: 90, attempt: 2),
                    LaunchNodeRow(name: "d", position: 1, state: .healthy, since: 90, attempt: 2),
                    LaunchNodeRow(name: "c", position: 2, state: .healthy, since: 90, attempt: 2),
                    LaunchNodeRow(name: "b", position: 1, state: .lost, since: 100, attempt: 1, signal: .agentEnded, cause: "its agent ended"),
                    LaunchNodeRow(name: "e", position: 4, state: .spare, since: 90, attempt: 2)]
        p.resume(last: ["a", "d", "c"], rows: rows)
        #expect(p.active.names == ["a", "d", "c"] && p.names(.spare) == ["e"] && p.names(.lost) == ["b"])
        #expect(p.member("b")?.since == 100 && p.member("b")?.reason == "its agent ended")
        // b's cool-down (60 s) runs from its loss: not checked at 150, checked at 160.
        let (s, asked) = Self.settle(&p, now: 150)
        #expect(asked == [["a", "d", "c"]] && s == .start(Self.hosts("a", "d", "c"), changes: []))
        #expect(p.dueForProbe(now: 160) == ["b"])
    }

    @Test("--resume after a loss the earlier head never restarted from: a spare takes the lost node's place")
    func resumesAfterALoss() {
        var p = Self.pool(Self.hosts("a", "b", "c", "d"), "3")
        p.resume(last: ["a", "b", "c"], rows: [LaunchNodeRow(name: "b", position: 1, state: .lost, since: 100, attempt: 1)])
        #expect(Self.settle(&p, now: 101).0 == .start(Self.hosts("a", "d", "c"), changes: [.spareIn(spare: "d", replacing: "b")]))
    }
}
