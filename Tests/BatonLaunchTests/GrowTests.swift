@testable import BatonLaunch
@testable import BatonProtocol
@testable import BatonRuns
import Testing

/// `--grow-after`: the classifier's rule 8 (`GrowWatch`) on scripted attempts, and the pool's
/// background checks with their back-off.
@Suite struct GrowTests {
    static func script(grow: GrowWatch.Rule?) -> (Script, LossClassifier.Settings) {
        var settings = Script.settings
        settings.grow = grow
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 20)
        return (s, settings)
    }

    static func report(_ s: inout Script, _ t: Double, consumed: Int) {
        s.tagged(t, .metric, "n1", 0, #"{"step": 1, "consumed": \#(consumed)}"#)
    }

    static func replay(_ s: Script, _ settings: LossClassifier.Settings) -> [(time: Double, action: LossAction)] {
        // In time order (the script adds the heartbeats first).
        let events = s.events.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        return AttemptTranscript(hosts: Script.hosts, settings: settings, events: events).replay()
    }

    @Test("a node back in the pool for --grow-after: a checkpoint is asked for, and the next larger consumed count stops the attempt to grow")
    func growsAtTheNextCheckpoint() throws {
        var (s, settings) = Self.script(grow: GrowWatch.Rule(after: 2, wait: 5))
        Self.report(&s, 2, consumed: 100)
        s.at(3, .spareReady(node: "n4"))
        // The count known at the request is not a checkpoint after it.
        Self.report(&s, 6, consumed: 100)
        Self.report(&s, 6.5, consumed: 140)
        s.at(7, .mpirunExited(.exited(0)))
        let actions = Self.replay(s, settings)
        let request = try #require(actions.first { if case .requestCheckpoint = $0.action { true } else { false } })
        #expect(request.action == .requestCheckpoint(nodes: ["n4"]))
        // Asked at the deadline (3 + 2), not before.
        #expect(request.time >= 5 && request.time < 5.1)
        guard case .grow(let v, let nodes)? = actions.last?.action else { Issue.record("no grow: \(actions)"); return }
        #expect(actions.last?.time == 6.5)
        #expect(v.outcome == .grow && nodes == ["n4"] && v.lost.isEmpty)
        #expect(v.detail == "n4 back in the pool; stopped at the checkpoint of 140 samples consumed")
    }

    @Test("no checkpoint within --grow-wait: the head gives up for this attempt, and the job goes on to its end")
    func givesUpWithoutACheckpoint() {
        var (s, settings) = Self.script(grow: GrowWatch.Rule(after: 1, wait: 4))
        s.at(2, .spareReady(node: "n4"))
        s.at(15, .mpirunExited(.exited(0)))
        let actions = Self.replay(s, settings).map(\.action)
        #expect(actions.count == 3)
        #expect(actions.first == .requestCheckpoint(nodes: ["n4"]))
        guard case .growGivenUp(let nodes, let reason)? = actions.dropFirst().first else { Issue.record("not given up: \(actions)"); return }
        #expect(nodes == ["n4"] && reason.contains("--grow-wait"))
        #expect(outcome(actions.last) == .completed)
    }

    @Test("without --grow-after (or with the world at MAX, where the runner sets no rule) a node back in the pool changes nothing")
    func offByDefault() {
        var (s, settings) = Self.script(grow: nil)
        s.at(2, .spareReady(node: "n4"))
        Self.report(&s, 9, consumed: 400)
        s.at(10, .mpirunExited(.exited(0)))
        #expect(Self.replay(s, settings).map(\.action).count == 1)
        #expect(outcome(Self.replay(s, settings).last?.action) == .completed)
    }

    @Test("after Ctrl-C nothing grows: the stop comes first")
    func interruptFirst() {
        var (s, settings) = Self.script(grow: GrowWatch.Rule(after: 1, wait: 4))
        s.at(1.5, .interrupt)
        s.at(2, .spareReady(node: "n4"))
        Self.report(&s, 4, consumed: 50)
        #expect(!Self.replay(s, settings).contains { if case .requestCheckpoint = $0.action { true } else { false } })
    }

    @Test("lost nodes are checked again after --cool-down, then after twice as long at each failed check (at most 16 times), and a pass resets it")
    func probeBackOff() {
        var p = HostPoolTests.pool(HostPoolTests.hosts("a", "b", "c"), "2:3", coolDown: 10)
        _ = HostPoolTests.settle(&p, now: 1)
        p.lose(["c"], reason: "lost", at: 2)
        _ = HostPoolTests.settle(&p, now: 3)  // the restart after the loss: on a and b
        #expect(p.dueForProbe(now: 11.9).isEmpty)
        #expect(p.dueForProbe(now: 12) == ["c"])
        #expect(p.probed(["c": .failed("no answer")], at: 12) == [.suspect(node: "c", reason: "no answer")])
        #expect(p.dueForProbe(now: 31.9).isEmpty && p.dueForProbe(now: 32) == ["c"])
        var t = 32.0
        for wait in [40.0, 80, 160, 160] {
            _ = p.probed(["c": .failed("no answer")], at: t)
            #expect(p.dueForProbe(now: t + wait - 0.1).isEmpty && p.dueForProbe(now: t + wait) == ["c"])
            t += wait
        }
        #expect(p.standby(now: t) == 1)
        #expect(p.probed(["c": .passed, "a": .failed("not asked")], at: t) == [.rejoined(node: "c")])
        #expect(p.names(.spare) == ["c"] && p.member("a")?.state == .active)
        // Back in the pool: the next boundary grows the world with it (gated first, as any).
        let (s, asked) = HostPoolTests.settle(&p, now: t + 1)
        #expect(asked == [["a", "b", "c"]])
        #expect(s == .start(HostPoolTests.hosts("a", "b", "c"), changes: [.spareIn(spare: "c", replacing: nil)]))
        // Lost again: its wait starts from --cool-down again.
        p.lose(["c"], reason: "lost", at: t + 2)
        #expect(p.dueForProbe(now: t + 12) == ["c"])
    }

    @Test("without the gate no node is ever checked in the background")
    func noGateNoProbe() {
        var p = HostPoolTests.pool(HostPoolTests.hosts("a", "b", "c"), "2:3", gating: false, coolDown: 1)
        _ = HostPoolTests.settle(&p, now: 1)
        p.lose(["c"], reason: "lost", at: 2)
        #expect(p.dueForProbe(now: 100).isEmpty)
    }

    @Test("--grow-after needs --nnodes MIN:MAX with MIN below MAX and the gate; durations are checked")
    func growSettings() throws {
        var p = PoolSettings()
        #expect(try p.grow(range: NodeRange(min: 2, max: 3), gating: true) == nil)
        p.growAfter = "10m"
        #expect(try p.grow(range: NodeRange(min: 2, max: 3), gating: true) == GrowWatch.Rule(after: 600, wait: 300))
        #expect(throws: LaunchError.self) { try p.grow(range: NodeRange(min: 3, max: 3), gating: true) }
        #expect(throws: LaunchError.self) { try p.grow(range: nil, gating: true) }
        #expect(throws: LaunchError.self) { try p.grow(range: NodeRange(min: 2, max: 3), gating: false) }
        p.growWait = "0s"
        #expect(throws: LaunchError.self) { try p.grow(range: NodeRange(min: 2, max: 3), gating: true) }
        p.growWait = "5m"
        p.growAfter = "soon"
        #expect(throws: LaunchError.self) { try p.grow(range: NodeRange(min: 2, max: 3), gating: true) }
    }
}
