import Testing
@testable import BatonExec
@testable import BatonProtocol

@Suite struct NodeHealthTests {
    @Test("the gate's arguments and the node's answer read back as written")
    func roundTrip() {
        let a = HealthArguments(directories: ["/r", "/r/checkpoints"], minFree: 1 << 28, minMemlock: 1 << 26)
        #expect(HealthArguments.parse(a.encode()) == a)
        #expect(HealthArguments.parse(["health", "--dir"]) == nil)
        #expect(HealthArguments.parse(["guard", "--head", "1:2"]) == nil)
        #expect(HealthArguments.problem(inOutput: "noise\nbaton-health: ok\n") == .some(nil))
        #expect(HealthArguments.problem(inOutput: "baton-health: /r is not writable: Read-only file system\n") == .some("/r is not writable: Read-only file system"))
        #expect(HealthArguments.problem(inOutput: "ORTE was unable to reach a daemon\n") == nil)
    }

    @Test("a directory not made yet is judged by its nearest parent; too little space fails with the figures")
    func checks() {
        #expect(NodeHealth.nearestExisting("/tmp/no-such-dir-\(UInt64.random(in: 0...UInt64.max))/checkpoints") == "/tmp")
        #expect(NodeHealth.check(HealthArguments(directories: ["/tmp"], minFree: 1)).isEmpty)
        let full = NodeHealth.check(HealthArguments(directories: ["/tmp"], minFree: UInt64.max >> 1))
        #expect(full.count == 1 && full[0].hasPrefix("/tmp: ") && full[0].contains("MiB free, needs"))
        // Two directories that resolve to one are judged once.
        #expect(NodeHealth.check(HealthArguments(directories: ["/tmp", "/tmp/no-such-\(UInt64.random(in: 0...UInt64.max))"], minFree: UInt64.max >> 1)).count == 1)
        #expect(NodeHealth.check(HealthArguments(minMemlock: UInt64.max - 1)).first?.hasPrefix("memlock limit") ?? true)
    }
}
