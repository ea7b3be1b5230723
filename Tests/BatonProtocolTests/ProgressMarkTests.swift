@testable import BatonProtocol
import Testing

@Suite struct ProgressMarkTests {
    @Test("every mark reads back from its payload; anything else is ignored")
    func roundTrip() {
        for m: ProgressMark in [.armed(pid: 42), .step(7), .phase("eval"), .phase(nil), .stacks(path: "/r/a b/rank-0.txt")] {
            #expect(ProgressMark.parse(m.payload) == m)
        }
        #expect(ProgressMark.parse("step 3\r") == .step(3))
        for junk in ["", "step", "step x", "phase a b", "armed", "hello 1"] { #expect(ProgressMark.parse(junk) == nil) }
    }

    @Test("the head's stacks request reads back; the exec arguments encode to what parse reads")
    func messagesAndArguments() {
        #expect(HeadMessage.decode(HeadMessage.stacks(attempt: 3).encoded) == .stacks(attempt: 3))
        var a = ExecArguments()
        a.runDir = "/r"
        a.nodes = "a:2,b:2"
        a.attempt = 2
        a.lease = "10s"
        a.masterAddr = "a"
        a.config = #"{"lr":0.1}"#
        a.resume = true
        a.progressPattern = #"step (\d+)"#
        a.progressKey = "step"
        a.env = ["K=V"]
        a.command = ["python3", "train.py", "--", "x"]
        #expect(ExecArguments.parse(a.encode()) == a)
    }
}
