@testable import BatonLaunch
@testable import BatonProtocol
@testable import BatonRuns
import Foundation
import Testing

/// Straggler detection: the watch's score on scripted busy times, and a recorded DDP run
/// with one simulated node under a CPU quota, replayed with the default rule.
@Suite struct StragglerTests {
    /// Four ranks beating every second from 0 to `until`; rank r's busy fraction is `busy[r]`.
    static func beats(_ busy: [Double], until: Int, rule: StragglerWatch.Rule = .init()) -> (StragglerWatch, [StragglerFinding]) {
        var w = StragglerWatch(rule: rule)
        var found: [StragglerFinding] = []
        for t in 0...until {
            for r in 0..<busy.count {
                let b = busy[r] * Double(t)
                w.record(rank: r, node: "n\(r / 2)", Heartbeat(sequence: t, cpu: b * 0.5, delay: b * 0.5), at: Double(t))
            }
            if let f = w.check(at: Double(t)) { found.append(f) }
        }
        return (w, found)
    }

    @Test("a rank busy all the time while the others wait half of it is named once, after window + sustain (20 s)")
    func oneSlowRank() throws {
        let (w, found) = Self.beats([0.4, 0.45, 0.42, 1.0], until: 40)
        #expect(found.map(\.rank) == [3])
        let f = try #require(found.first)
        #expect(f.node == "n1" && f.score < 0.5)
        #expect(w.scores(at: 40)[0] == 1)
        #expect(f.since >= 15)
        let (_, early) = Self.beats([0.4, 0.45, 0.42, 1.0], until: 17)
        #expect(early.isEmpty)
    }

    @Test("two slow ranks of four are both named: the reference is the less busy half")
    func twoSlowRanks() {
        let (_, found) = Self.beats([0.38, 0.43, 1.1, 1.4], until: 40)
        #expect(Set(found.map(\.rank)) == [2, 3])
    }

    @Test("near-idle ranks that differ by noise, and ranks alike, are never named")
    func noFalsePositives() {
        #expect(Self.beats([0.02, 0.05, 0.01, 0.2], until: 60).1.isEmpty)  // gap under 0.25 of a CPU
        #expect(Self.beats([1.0, 0.95, 1.05, 1.0], until: 60).1.isEmpty)
        var off = StragglerWatch.Rule()
        off.policy = .off
        #expect(Self.beats([0.4, 0.4, 0.4, 1.0], until: 60, rule: off).1.isEmpty)
    }

    @Test("heartbeats without busy times (an older wrapper) read, and say nothing of stragglers")
    func plainHeartbeats() {
        #expect(Heartbeat.parse("17") == Heartbeat(sequence: 17))
        let h = Heartbeat(sequence: 3, cpu: 1.5, delay: 0.25)
        #expect(Heartbeat.parse(h.payload) == h)
        var w = StragglerWatch(rule: .init())
        w.record(rank: 0, node: "n0", Heartbeat(sequence: 1), at: 1)
        #expect(w.samples.isEmpty)
    }

    @Test("recorded: local-1 under a 20% CPU quota in a DDP run; its ranks are named, local-0's never")
    func recordedThrottledNode() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/transcripts/straggler-ddp-node-throttled.jsonl")
        var t = try AttemptTranscript.decode(String(contentsOf: file, encoding: .utf8))
        t.settings.stragglers = StragglerWatch.Rule()
        let named = t.replay().compactMap { a -> StragglerFinding? in
            if case .straggler(let f) = a.action { return f } else { return nil }
        }
        #expect(!named.isEmpty)
        #expect(named.allSatisfy { $0.node == "local-1" && $0.score < 0.7 })
        // Throttled from about 6 s on: named within window + sustain (20 s) and a second.
        #expect((t.replay().first { if case .straggler = $0.action { true } else { false } }?.time ?? 99) < 28)
    }

    @Test("--on-straggler exclude: the node is lost once the job has checkpointed past the finding")
    func excludeAtCheckpoint() {
        var settings = LossClassifier.Settings(heartbeatTimeout: 5, startupTimeout: 30, nodeLossWindow: 1, grace: 3)
        settings.stragglers = StragglerWatch.Rule(policy: .exclude)
        let hosts = HostList(hosts: [Host(name: "n0", slots: 2), Host(name: "n1", slots: 2)])
        var c = LossClassifier(hosts: hosts, settings: settings, start: 0)
        var actions: [LossAction] = []
        for t in 0...30 {
            for r in 0..<4 {
                let b = (r == 3 ? 1.0 : 0.4) * Double(t)
                let line = TaggedLine(kind: .hb, node: "n\(r / 2)", rank: r, payload: Heartbeat(sequence: t, cpu: b, delay: 0).payload)
                if let a = c.handle(.tagged(line), at: Double(t)) { actions.append(a) }
            }
        }
        #expect(actions.count == 1)
        guard case .straggler(let f)? = actions.first else { Issue.record("no straggler"); return }
        #expect(f.rank == 3)
        let report = TaggedLine(kind: .metric, node: "n0", rank: 0, payload: #"{"consumed": 640}"#)
        guard case .nodesLost(let v, _)? = c.handle(.tagged(report), at: 31) else { Issue.record("not left out"); return }
        #expect(v.lost.map(\.node) == ["n1"] && v.lost.first?.signal == .straggler)
    }
}
