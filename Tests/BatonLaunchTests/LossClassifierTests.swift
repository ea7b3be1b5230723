@testable import BatonLaunch
@testable import BatonRuns
@testable import BatonProtocol
@testable import BatonSystem
import Foundation
import Testing

/// Builds the events of an attempt by hand: 3 nodes x 2 ranks, times in seconds.
struct Script {
    static let hosts = HostList(hosts: [Host(name: "n1", slots: 2), Host(name: "n2", slots: 2), Host(name: "n3", slots: 2)])
    static let settings = LossClassifier.Settings(heartbeatTimeout: 5, startupTimeout: 30, nodeLossWindow: 1, grace: 2)
    var events: [(time: Double, event: AttemptEvent)] = []

    mutating func at(_ t: Double, _ e: AttemptEvent) { events.append((t, e)) }
    mutating func tagged(_ t: Double, _ kind: TaggedLine.Kind, _ node: String, _ rank: Int, _ payload: String = "") {
        at(t, .tagged(TaggedLine(kind: kind, node: node, rank: rank, payload: payload)))
    }
    /// Every rank started and beat at `t`.
    mutating func running(_ t: Double = 0.1) {
        for (rank, node) in ["n1", "n1", "n2", "n2", "n3", "n3"].enumerated() {
            tagged(t, .start, node, rank, "pid=\(100 + rank)")
            tagged(t, .hb, node, rank, "0")
        }
    }
    /// The ranks of `nodes` beat every second up to `until`.
    mutating func beating(_ nodes: [String], from: Double = 1, until: Double) {
        var t = from
        while t <= until {
            for (rank, node) in ["n1", "n1", "n2", "n2", "n3", "n3"].enumerated() where nodes.contains(node) { tagged(t, .hb, node, rank, "\(Int(t))") }
            t += 1
        }
    }
    /// The survivors' wrappers say they were stopped and how their ranks ended.
    mutating func stopped(_ t: Double, _ nodes: [String]) {
        for (rank, node) in ["n1", "n1", "n2", "n2", "n3", "n3"].enumerated() where nodes.contains(node) {
            tagged(t, .note, node, rank, "received SIGTERM")
            tagged(t, .exit, node, rank, RankExit(status: .signaled(SIGTERM), after: SIGTERM).payload)
        }
    }
    static let unableToStart = ["--------------------------------------------------------------------------",
                                "ORTE was unable to reliably start one or more daemons.", "This usually is caused by:"]

    var transcript: AttemptTranscript { AttemptTranscript(hosts: Self.hosts, settings: Self.settings, events: events) }
    /// The last action of a replay.
    var verdict: LossAction? { transcript.replay().last?.action }
}

func lost(_ action: LossAction?) -> (nodes: [String], signal: LossSignal?) {
    switch action {
    case .nodesLost(let v, _)?, .ended(let v)?: return (v.lost.map(\.node), v.lost.first?.signal)
    default: return ([], nil)
    }
}

func outcome(_ action: LossAction?) -> AttemptOutcome? {
    switch action {
    case .nodesLost(let v, _)?, .ended(let v)?, .neverStarted(let v)?: return v.outcome
    case .hung?: return .hung
    case .grow(let v, _)?: return v.outcome
    default: return nil
    }
}

@Suite struct LossClassifierRuleTests {
    @Test("an agent that ends while its node runs accuses the node after the settle time, and its wrappers may run cut off")
    func agentEndAccusesItsNode() {
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 3)
        s.at(3.2, .agentEnded(node: "n3"))
        s.beating(["n1", "n2"], from: 4, until: 4)
        let actions = s.transcript.replay()
        guard case .nodesLost(let v, let fence)? = actions.last?.action else { Issue.record("no loss: \(actions)"); return }
        #expect(v.lost.map(\.node) == ["n3"])
        #expect(v.lost.first?.signal == .agentEnded)
        #expect(fence == .unlessGone)
        // Decided once the settle time after the end was seen had passed, not later.
        #expect(abs((actions.last?.time ?? 0) - 3.45) < 0.01)
    }

    @Test("agents that end just before mpirun exits 0 are a clean end, not a loss")
    func cleanEndIsNotALoss() {
        var s = Script()
        s.running()
        for (rank, node) in ["n1", "n1", "n2", "n2", "n3", "n3"].enumerated() { s.tagged(2, .exit, node, rank, RankExit(status: .exited(0)).payload) }
        s.at(2.05, .agentEnded(node: "n1"))
        s.at(2.05, .agentEnded(node: "n3"))
        s.at(2.1, .mpirunExited(.exited(0)))
        #expect(outcome(s.verdict) == .completed)
    }

    @Test("a rank that fails by itself is the command's failure, though mpirun then ends every agent")
    func rankFailureIsTheCommands() {
        var s = Script()
        s.running()
        s.tagged(2, .exit, "n3", 4, RankExit(status: .exited(3)).payload)
        s.at(2.01, .mpirun("Primary job  terminated normally, but 1 process returned"))
        s.at(2.01, .mpirun("a non-zero exit code. Per user-direction, the job has been aborted."))
        s.at(2.02, .agentEnded(node: "n1"))
        s.at(2.02, .agentEnded(node: "n3"))
        s.stopped(2.05, ["n1", "n2"])
        s.at(2.1, .mpirunExited(.exited(3)))
        guard case .ended(let v)? = s.verdict else { Issue.record("not ended"); return }
        #expect(v.outcome == .commandFailed)
        #expect(v.failedRank == 4)
        #expect(v.failedNode == "n3")
    }

    @Test("a crash that kills a rank before its wrapper reads as a failed rank; mpirun's word that a daemon failed makes it the node's loss")
    func crashKillingTheRankFirstIsANodeLoss() {
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 3)
        s.tagged(3.5, .exit, "n3", 5, RankExit(status: .signaled(SIGKILL)).payload)
        for (i, l) in Script.unableToStart.enumerated() { s.at(3.51 + Double(i) * 0.0001, .mpirun(l)) }
        s.at(3.52, .agentEnded(node: "n3"))
        s.at(4, .tick)
        let v = s.verdict
        #expect(outcome(v) == .nodesLost)
        #expect(lost(v).nodes == ["n3"])
        #expect(lost(v).signal == .agentEnded)
    }

    @Test("mpirun's word that a daemon failed, with no agent end seen, names the node none of whose ranks spoke of its end")
    func daemonFailedWithoutAnAgentNamesTheSilentNode() {
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 3)
        for l in Script.unableToStart { s.at(3.5, .mpirun(l)) }
        s.stopped(3.8, ["n1", "n2"])
        s.at(4.6, .mpirunExited(.signaled(SIGKILL)))
        let v = s.verdict
        #expect(outcome(v) == .nodesLost)
        #expect(lost(v) == (["n3"], .daemonFailed))
    }

    @Test("mpirun's word that a daemon failed, with no agent end and every node silent, names the first failed rank's node")
    func daemonFailedNamesTheFirstFailedRanksNode() {
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 3)
        s.tagged(3.5, .exit, "n2", 3, RankExit(status: .signaled(SIGKILL)).payload)
        for l in Script.unableToStart { s.at(3.5, .mpirun(l)) }
        s.at(4.6, .mpirunExited(.signaled(SIGKILL)))
        #expect(lost(s.verdict) == (["n2"], .daemonFailed))
    }

    @Test("a daemon mpirun names lost is lost at once, and its wrappers need no lease wait")
    func namedDaemonIsLostAtOnce() {
        var s = Script()
        s.running()
        s.at(2, .mpirun("ORTE has lost communication with a remote daemon."))
        s.at(2, .mpirun("  HNP daemon   : [[5,0],0] on node head"))
        s.at(2, .mpirun("  Remote daemon: [[5,0],2] on node n2"))
        let actions = s.transcript.replay()
        guard case .nodesLost(let v, let fence)? = actions.last?.action else { Issue.record("no loss"); return }
        #expect(v.lost.map(\.node) == ["n2"])
        #expect(fence == .none)
        #expect(actions.last?.time == 2)
    }

    @Test("a silent node is lost after the heartbeat timeout, and the head waits out its lease")
    func silenceIsLostAfterTheTimeout() {
        var s = Script()
        s.running()
        s.beating(["n1", "n2", "n3"], until: 2)
        s.beating(["n1", "n2"], from: 3, until: 9)
        let actions = s.transcript.replay()
        guard case .nodesLost(let v, let fence)? = actions.last?.action else { Issue.record("no loss"); return }
        #expect(v.lost.map(\.node) == ["n3"])
        #expect(v.lost.first?.signal == .heartbeatTimeout)
        #expect(fence == .always)
        #expect(abs((actions.last?.time ?? 0) - 7) < 0.01)
    }

    @Test("when no node ever reports, the launch never started and no node is blamed")
    func nothingHeardBlamesNoNode() {
        var s = Script()
        s.at(40, .tick)
        guard case .neverStarted(let v)? = s.verdict else { Issue.record("not never-started"); return }
        #expect(v.outcome == .failedToStart)
        #expect(v.lost.isEmpty)
    }

    @Test("Ctrl-C is forwarded, the job is stopped after the grace, and its end is an interruption, not a loss")
    func interruptIsForwardedThenStopped() {
        var s = Script()
        s.running()
        s.at(1, .interrupt)
        s.at(1.5, .agentEnded(node: "n2"))
        s.at(3.5, .mpirunExited(.signaled(SIGTERM)))
        let actions = s.transcript.replay().map(\.action)
        #expect(actions.first == .forwardInterrupt)
        #expect(actions.dropFirst().first == .stopJob(atOnce: false))
        #expect(outcome(actions.last) == .interrupted)
    }

    @Test("Ctrl-C again stops the job at once (the short window), without waiting out the grace")
    func secondInterruptStopsAtOnce() {
        var s = Script()
        s.running()
        s.at(1, .interrupt)
        s.at(1.05, .interrupt)
        s.at(1.6, .mpirunExited(.signaled(SIGKILL)))
        let replay = s.transcript.replay()
        #expect(replay.map(\.action).first == .forwardInterrupt)
        let stop = replay.dropFirst().first
        #expect(stop?.action == .stopJob(atOnce: true))
        #expect(stop?.time == 1.05)
        #expect(outcome(replay.last?.action) == .interrupted)
    }

    @Test("an aborting mpirun is stopped after the node-loss window and judged by what was said")
    func abortIsStoppedThenJudged() {
        var s = Script()
        s.running()
        s.at(2, .mpirun("mpirun noticed that process rank 2 with PID 0 on node n2 exited on signal 9 (Killed)."))
        s.at(4, .mpirunExited(.signaled(SIGKILL)))
        let actions = s.transcript.replay()
        #expect(actions.first?.action == .stopAborted)
        #expect(abs((actions.first?.time ?? 0) - 3) < 0.01)
    }

    @Test("a transcript's lines decode to the events they were written from")
    func transcriptRoundTrips() throws {
        var s = Script()
        s.running()
        s.at(1, .mpirun("text with \"quotes\" and \\ backslashes"))
        s.at(1.5, .agentEnded(node: "n2"))
        s.at(2, .interrupt)
        s.at(2.5, .spareReady(node: "n4"))
        s.at(3, .mpirunExited(.signaled(9)))
        s.at(3.25, .mpirunExited(.exited(1)))
        s.at(3.5, .mpirunExited(nil))
        let t = s.transcript
        let text = ([t.headerLine()] + t.events.map { AttemptTranscript.line($0.event, at: $0.time) }).joined(separator: "\n")
        #expect(try AttemptTranscript.decode(text) == t)
    }
}

/// Transcripts recorded from real runs (`scripts/scenario-crash --keep DIR`, then
/// `DIR/run-K/attempts/attempt-1.transcript.jsonl`), replayed: the verdict the head reached
/// then, and must reach again. `Tests/Fixtures/transcripts/README.md` says how each was made.
@Suite struct RecordedTranscriptTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/transcripts").path

    /// file, the outcome, the lost nodes, how they were seen.
    static let cases: [(String, AttemptOutcome, [String], LossSignal?)] = [
        ("crash-plain-agent-pid-order.jsonl", .nodesLost, ["cx-n3"], .agentEnded),
        ("crash-plain-agent-all-at-once.jsonl", .nodesLost, ["cx-n3"], .agentEnded),
        // The known limit: without the agent's end, and with mpirun aborting before any rank
        // could say how it ended, nothing names the node.
        ("crash-unable-to-start-no-agent-end-seen.jsonl", .mpirunFailed, [], nil),
        ("crash-inside-agent-pid-order.jsonl", .nodesLost, ["cx-n3"], .daemonLost),
        ("crash-inside-agent-random-order.jsonl", .nodesLost, ["cx-n3"], .agentEnded),
        ("crash-outside-agent-daemon-lost.jsonl", .nodesLost, ["cx-n3"], .daemonLost),
        ("crash-32-nodes-plain-agent-random-order.jsonl", .nodesLost, ["cz-n32"], .agentEnded),
        ("partition-heartbeat-timeout.jsonl", .nodesLost, ["cv-n3"], .heartbeatTimeout),
        ("hang-heartbeat-timeout.jsonl", .nodesLost, ["cv-n3"], .heartbeatTimeout),
        ("crash-pytorch-ddp-plain-agent-random-order.jsonl", .nodesLost, ["cx-n3"], .agentEnded),
        ("slurm-salloc-crash-daemon-lost.jsonl", .nodesLost, ["sr3"], .daemonLost),
        ("rank-fails-mpirun-segfaults-in-pmix-finalize.jsonl", .commandFailed, [], nil),
        ("clean-end.jsonl", .completed, [], nil),
        ("hang-ddp-rank-asleep-progress.jsonl", .hung, [], nil),
        ("straggler-ddp-node-throttled.jsonl", .completed, [], nil),
        ("grow-after-partition-healed.jsonl", .grow, [], nil),
    ]

    @Test(arguments: cases.map(\.0))
    func replaysToTheRecordedVerdict(_ file: String) throws {
        let text = try String(contentsOfFile: "\(Self.dir)/\(file)", encoding: .utf8)
        let t = try AttemptTranscript.decode(text)
        let expected = try #require(Self.cases.first { $0.0 == file })
        let last = t.replay().last?.action
        #expect(outcome(last) == expected.1)
        #expect(lost(last).nodes == expected.2)
        #expect(lost(last).signal == expected.3)
    }

    @Test("every transcript under Tests/Fixtures/transcripts has an expected verdict")
    func everyFixtureIsChecked() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.dir).filter { $0.hasSuffix(".jsonl") }
        #expect(Set(files) == Set(Self.cases.map(\.0)))
    }
}
