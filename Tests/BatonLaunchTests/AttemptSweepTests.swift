@testable import BatonSystem
import Foundation
import Testing
@testable import BatonLaunch
import BatonProtocol
#if canImport(Glibc)
import Glibc
#endif

@Suite struct AttemptSweepTests {
    typealias L = AttemptSweep.Leftover

    @Test func theSweepSeesSimulatedNodesAndTheNodesSeenUnderTheirAgents() {
        let real = AttemptSweep(token: "t", simulated: false)
        #expect(real.sees(["a", "b"], seenHere: ["a", "b", "c"]))
        #expect(!real.sees(["a", "b"], seenHere: ["a"]))
        #expect(AttemptSweep(token: "t", simulated: true).sees(["a"], seenHere: []))
        // Gone: nothing of the node left among processes this machine sees.
        let left = [L(pid: 5, node: "b")]
        #expect(real.nodesAreGone(["a"], in: left))
        #expect(!real.nodesAreGone(["b"], in: left))
        // Nothing attributed at all: gone only where the node was seen here.
        #expect(!real.nodesAreGone(["a"], in: []))
        #expect(real.nodesAreGone(["a"], in: [], seenHere: ["a"]))
    }

    @Test func leftoversAreFoundByTokenAndAttributedByNodeOrRank() throws {
        let token = "/run/sweep-test-\(getpid())-\(monotonicNow())#1"
        var env = ProcessInfo.processInfo.environment
        env[LaunchPlanner.attemptTokenVariable] = token
        env["OMPI_COMM_WORLD_RANK"] = "1"
        let ranked = try ChildProcess.spawn(["sleep", "30"], environment: env, stdin: .null, stdout: .null, stderr: .null)
        env["OMPI_COMM_WORLD_RANK"] = nil
        env["BATON_AGENT_NODE"] = "node-c"
        let named = try ChildProcess.spawn(["sleep", "30"], environment: env, stdin: .null, stdout: .null, stderr: .null)
        defer { for c in [ranked, named] { c.signal(SIGKILL); _ = c.wait() } }
        var sweep = AttemptSweep(token: token, simulated: true, nodeOfRank: [0: "node-a", 1: "node-b"])
        sweep.since = ProcessTable.stat(ranked.pid)?.startTime ?? 0
        // A just-spawned child shows the parent's environment until it has exec'd: polled.
        var left: [L] = []
        _ = pollUntil(atMost: 5, every: 0.01) {
            left = sweep.leftovers().sorted { $0.pid < $1.pid }
            return left.count == 2 && left[0].rank == 1
        }
        #expect(left.map(\.pid) == [ranked.pid, named.pid].sorted())
        #expect(Dictionary(uniqueKeysWithValues: left.map { ($0.pid, $0.node) }) == [ranked.pid: "node-b", named.pid: "node-c"])
        let (killed, still) = sweep.clear(excluding: [], within: 5, listed: left)
        #expect(killed == 2)
        #expect(still.isEmpty)
        #expect(sweep.leftovers().isEmpty)
    }

    @Test func aRunningCommandsWrapperIsItsParentAndAnEndedCommandHasNone() throws {
        // "wrapper" (sh) -> "command" (sleep); the command's pid is what `start pid=N` says.
        let wrapper = try ChildProcess.spawn(["sh", "-c", "sleep 30 > /dev/null & echo $!; exec > /dev/null; wait"], environment: ProcessInfo.processInfo.environment,
                                             stdin: .null, stdout: .pipe, stderr: .null)
        var first: String?
        readLines(fd: wrapper.stdoutFD!) { if first == nil { first = String($0) } }
        let command = try #require(first.flatMap { Int32($0) })
        defer { kill(command, SIGKILL); wrapper.signal(SIGKILL); _ = wrapper.wait() }
        var sweep = AttemptSweep(token: "t", simulated: true)
        sweep.since = ProcessTable.stat(wrapper.pid)?.startTime ?? 0
        var monitor = HeartbeatMonitor(hosts: HostList(hosts: [.init(name: "a", slots: 1), .init(name: "b", slots: 1)]), timeout: 5, start: 0)
        let a = monitor.record(TaggedLine(kind: .start, node: "a", rank: 0, payload: "pid=\(command)"), at: 1)
        let b = monitor.record(TaggedLine(kind: .start, node: "b", rank: 1, payload: "pid=999999999"), at: 1)
        #expect(a && b)
        #expect(monitor.runningCommands(except: ["b"]).mapValues(\.pid) == [0: command])
        let found = sweep.wrappers(ofCommands: monitor.runningCommands(except: []))
        // Rank 1's pid names no process: no wrapper for it.
        #expect(found == [L(pid: wrapper.pid, parent: getpid(), startTime: ProcessTable.stat(wrapper.pid)!.startTime, node: "a", rank: 0)])
        // Once the command has ended its rank has no wrapper to stop (its pid may be anyone's).
        kill(command, SIGKILL)
        _ = pollUntil(atMost: 5, every: 0.01) { ProcessTable.stat(command).map { $0.isZombie } ?? true }
        #expect(sweep.wrappers(ofCommands: monitor.runningCommands(except: [])).isEmpty)
    }
}
