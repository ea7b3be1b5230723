@testable import BatonLaunch
@testable import BatonSystem
@testable import BatonProtocol
import Testing

@Suite struct HealthGateTests {
    @Test("one mpirun checks every node: answers are told apart by --tag-output, a node that said nothing has no verdict yet")
    func commonAnswers() {
        let out = """
            [1,1]<stdout>:baton-health: ok
            [1,0]<stdout>:baton-health: /r is not writable: Read-only file system
            [1,2]<stderr>:some noise
            ORTE was unable to reliably start one or more daemons.
            """
        let v = HealthGate.answers(out, nodes: ["a", "b", "c"])
        #expect(v == ["a": .failed("/r is not writable: Read-only file system"), "b": .passed])
        #expect(tagOutputLine("[12,3]<stdout>:x")?.rank == 3)
        #expect(tagOutputLine("[12,3]<other>:x") == nil)
        #expect(tagOutputLine("plain") == nil)
    }

    @Test("a node that does not answer in time fails with the bound named; one that cannot be reached with mpirun's words")
    func singleVerdicts() {
        let late = ChildProcess.Output(status: .signaled(15), stdout: "", stderr: "", timedOut: true)
        #expect(HealthGate.verdict(late, timeout: 5) == .failed("no answer within 5s (--health-timeout)"))
        let down = ChildProcess.Output(status: .exited(1), stdout: "", stderr: "--------\nORTE was unable to reliably start one or more daemons.\n", timedOut: false)
        #expect(HealthGate.verdict(down, timeout: 5) == .failed("the node did not answer through mpirun (exit code 1): ORTE was unable to reliably start one or more daemons."))
        let ok = ChildProcess.Output(status: .exited(0), stdout: "baton-health: ok\n", stderr: "", timedOut: false)
        #expect(HealthGate.verdict(ok, timeout: 5) == .passed)
    }

    @Test("inside Slurm, a node Slurm reports down, drained, draining, failing or not responding is refused, with its state")
    func slurmStates() {
        let out = "sl1 allocated\nsl2 drained\nsl3 down*\nsl4 mixed\nsl5 draining\nsl6 idle*\nsl7 idle\n"
        #expect(SlurmAllocation.unusable(sinfoOutput: out) == [
            "sl2": "Slurm reports the node drained", "sl3": "Slurm reports the node down*",
            "sl5": "Slurm reports the node draining", "sl6": "Slurm reports the node idle*",
        ])
        #expect(SlurmAllocation.stateQuery(["a", "b"]) == ["sinfo", "--noheader", "--Node", "--format=%N %T", "--nodes=a,b"])
    }
}
