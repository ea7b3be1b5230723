@testable import BatonLaunch
@testable import BatonRuns
@testable import BatonProtocol
import Testing

@Suite struct RestartPolicyTests {
    static let hosts = HostList(hosts: [Host(name: "a", slots: 2), Host(name: "b", slots: 2), Host(name: "c", slots: 2)])
    static func record(_ outcome: AttemptOutcome, attempt: Int = 1, lost: [String] = []) -> AttemptRecord {
        var r = AttemptRecord(attempt: attempt, nodes: hosts.names, worldSize: 6)
        r.outcome = outcome
        r.lost = lost.map { LostNode(node: $0, ranks: [], signal: .agentEnded, cause: "", detectionSeconds: 0) }
        return r
    }
    let policy = RestartPolicy(maxRestarts: 2, minNodes: 2, onRankFailure: .fail, firstAttempt: 1)

    @Test("a lost node restarts the job on the survivors while restarts and nodes remain")
    func lossRestartsOnSurvivors() {
        guard case .restart(let next, let lost, let cause, _) = policy.decide(after: Self.record(.nodesLost, lost: ["b"]), on: Self.hosts) else {
            Issue.record("no restart"); return
        }
        #expect(next.names == ["a", "c"])
        #expect(lost == ["b"])
        #expect(cause == nil)
    }

    @Test("below --min-nodes, or with no restart left, the launch fails with exit 4 and says why")
    func limitsEndTheLaunch() {
        let tooFew = policy.decide(after: Self.record(.nodesLost, lost: ["a", "b"]), on: Self.hosts)
        #expect(tooFew == .finish(.failed, reason: "lost a,b; 1 nodes left, --min-nodes is 2", exitCode: 4))
        let spent = policy.decide(after: Self.record(.nodesLost, attempt: 3, lost: ["b"]), on: Self.hosts)
        #expect(spent == .finish(.failed, reason: "lost b; no restart left (--max-restarts 2)", exitCode: 4))
    }

    @Test("--nnodes N never shrinks below N: with no spare the launch ends at once and says why; MIN:MAX names its MIN")
    func fixedWorldEndsAtOnce() {
        var fixed = RestartPolicy(maxRestarts: 2, minNodes: 3, onRankFailure: .fail, firstAttempt: 1)
        fixed.nnodes = NodeRange(min: 3, max: 3)
        #expect(fixed.decide(after: Self.record(.nodesLost, lost: ["b"]), on: Self.hosts)
                == .finish(.failed, reason: "lost b; 2 nodes left and no spare: --nnodes 3 never runs on fewer than 3 (--nnodes MIN:3 lets the world shrink)", exitCode: 4))
        // A spare standing by: the restart goes on (the pool puts it in b's place).
        if case .restart = fixed.decide(after: Self.record(.nodesLost, lost: ["b"]), on: Self.hosts, standby: 1) {} else { Issue.record("no restart with a spare") }
        var range = fixed
        range.minNodes = 3
        range.nnodes = NodeRange(min: 3, max: 4)
        #expect(range.decide(after: Self.record(.nodesLost, lost: ["b"]), on: Self.hosts)
                == .finish(.failed, reason: "lost b; 2 nodes left, --nnodes 3:4 needs at least 3", exitCode: 4))
    }

    @Test("a rank that fails by itself ends the launch, unless --on-rank-failure restart, which reuses the same nodes")
    func rankFailure() {
        if case .finish(.failed, _, 4) = policy.decide(after: Self.record(.commandFailed), on: Self.hosts) {} else { Issue.record("not failed") }
        var restart = policy
        restart.onRankFailure = .restart
        guard case .restart(let next, let lost, let cause, _) = restart.decide(after: Self.record(.commandFailed), on: Self.hosts) else {
            Issue.record("no restart"); return
        }
        #expect(next == Self.hosts)
        #expect(lost.isEmpty)
        #expect(cause != nil)
    }

    @Test("an attempt stopped to grow restarts on its nodes, and uses up no restart (torchrun: membership changes are not failures)")
    func growIsAPlannedRestart() {
        // Attempt 3 after two planned restarts: --max-restarts 2 is untouched.
        let earlier = [Self.record(.grow, attempt: 1), Self.record(.grow, attempt: 2)]
        guard case .restart(let next, let lost, _, let message) = policy.decide(after: Self.record(.grow, attempt: 3), on: Self.hosts, earlier: earlier) else {
            Issue.record("no restart"); return
        }
        #expect(next == Self.hosts && lost.isEmpty)
        #expect(message.contains("planned restart"))
        // A loss after them still has both restarts.
        guard case .restart(_, _, _, let m) = policy.decide(after: Self.record(.nodesLost, attempt: 4, lost: ["b"]), on: Self.hosts,
                                                             earlier: earlier + [Self.record(.grow, attempt: 3)]) else {
            Issue.record("no restart after the planned ones"); return
        }
        #expect(m.hasSuffix("(restart 1 of 2)"))
    }

    @Test("completion and interruption end the launch with 0 and 130")
    func ends() {
        #expect(policy.decide(after: Self.record(.completed), on: Self.hosts) == .finish(.completed, reason: "every rank exited 0 (attempt 1)", exitCode: 0))
        if case .finish(.interrupted, _, 130) = policy.decide(after: Self.record(.interrupted), on: Self.hosts) {} else { Issue.record("not 130") }
    }
}
