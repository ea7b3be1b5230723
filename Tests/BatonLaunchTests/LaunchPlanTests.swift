import Foundation
import Testing
@testable import BatonLaunch
@testable import BatonRuns
@testable import BatonProtocol
@testable import BatonSystem
@testable import BatonExec

@Suite struct LaunchPlanTests {
    let hosts = HostList(hosts: [BatonProtocol.Host(name: "n1", slots: 2), BatonProtocol.Host(name: "n2", slots: 2), BatonProtocol.Host(name: "n3", slots: 2)])

    @Test func placementIsBySlotWithNodeRanks() {
        let all = RankPlacement.all(hosts)
        #expect(all.map(\.node) == ["n1", "n1", "n2", "n2", "n3", "n3"])
        #expect(all.map(\.localRank) == [0, 1, 0, 1, 0, 1])
        #expect(all.map(\.nodeRank) == [0, 0, 1, 1, 2, 2])
        #expect(RankPlacement.of(rank: 6, in: hosts) == nil)
    }

    @Test func environmentContractForEveryRank() {
        let planner = LaunchPlanner(mode: .cluster, command: ["python", "train.py"], runDir: "/runs/r1", batonPath: "/usr/bin/baton")
        let plan = planner.plan(hosts: hosts, attempt: 2, shardDir: "/runs/r1/shards/attempt-2")
        let r3 = plan.ranks[3].environment
        #expect(r3["RANK"] == "3" && r3["WORLD_SIZE"] == "6" && r3["LOCAL_RANK"] == "1" && r3["LOCAL_WORLD_SIZE"] == "2")
        #expect(r3["NODE_RANK"] == "1" && r3["NNODES"] == "3" && r3["MASTER_ADDR"] == "n1" && r3["MASTER_PORT"] == "29500")
        #expect(r3["BATON_ATTEMPT"] == "2" && r3["BATON_RESTART_COUNT"] == "1" && r3["BATON_RESUME"] == "1")
        #expect(r3["BATON_SHARD_FILE"] == "/runs/r1/shards/attempt-2/rank-3.npy")
        #expect(r3["BATON_METRICS"] == "/runs/r1/metrics/attempt-2/rank-3.jsonl")
        #expect(r3["BATON_CHECKPOINT_DIR"] == "/runs/r1/checkpoints")
    }

    @Test func mpirunArgvHasHostsWrapperAndCommandUnquoted() {
        let planner = LaunchPlanner(mode: .cluster, command: ["sh", "-c", "echo $RANK; rm x"], runDir: "/r", batonPath: "/b/baton")
        let argv = planner.plan(hosts: hosts, attempt: 1, shardDir: nil).mpirun
        #expect(argv.first == "mpirun")
        #expect(argv.contains("--stdin") && argv.contains("all"))
        let h = argv.firstIndex(of: "--host")!
        #expect(argv[h + 1] == "n1:2,n2:2,n3:2")
        #expect(argv[argv.firstIndex(of: "-np")! + 1] == "6")
        let sep = argv.lastIndex(of: "--")!
        #expect(Array(argv[(sep + 1)...]) == ["sh", "-c", "echo $RANK; rm x"])
        #expect(argv.contains("/b/baton") && argv.contains("exec") && argv.contains("--lease"))
    }

    @Test func leanWrapperReplacesBatonExecWithTheSameOptions() {
        var planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: "/r", batonPath: "/b/baton")
        let classic = planner.plan(hosts: hosts, attempt: 1, shardDir: nil).mpirun
        planner.execPath = "/b/baton-exec"
        let lean = planner.plan(hosts: hosts, attempt: 1, shardDir: nil).mpirun
        let at = classic.firstIndex(of: "/b/baton")!
        #expect(classic[at + 1] == "exec")
        #expect(Array(lean[..<at]) == Array(classic[..<at]))
        #expect(lean[at] == "/b/baton-exec")
        #expect(Array(lean[(at + 1)...]) == Array(classic[(at + 2)...]))
        #expect(!lean.contains("/b/baton") && !lean.contains("exec"))
    }

    @Test func leanWrapperIsFoundOnlyWhenExecutableBesideBaton() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-lean-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(LaunchPlanner.leanWrapper(beside: "\(dir)/baton") == nil)
        FileManager.default.createFile(atPath: "\(dir)/baton-exec", contents: Data("#!/bin/sh\n".utf8))
        #expect(LaunchPlanner.leanWrapper(beside: "\(dir)/baton") == nil)  // not executable yet
        chmod("\(dir)/baton-exec", 0o755)
        #expect(LaunchPlanner.leanWrapper(beside: "\(dir)/baton") == "\(dir)/baton-exec")
        #expect(LaunchPlanner.leanWrapper(beside: "baton") == nil)
    }

    @Test func execArgumentsParseWhatThePlanWritesAndRefuseTheRest() throws {
        let planner = LaunchPlanner(mode: .cluster, command: ["sh", "-c", "echo --lease"], runDir: "/r", batonPath: "/b/baton")
        let argv = planner.plan(hosts: hosts, attempt: 2, shardDir: "/r/shards/attempt-2").mpirun
        let a = try #require(ExecArguments.parse(Array(argv[(argv.firstIndex(of: "exec")! + 1)...])))
        #expect(a.runDir == "/r" && a.nodes == "n1:2,n2:2,n3:2" && a.attempt == 2 && a.lease == "10s")
        #expect(a.shardDir == "/r/shards/attempt-2" && a.command == ["sh", "-c", "echo --lease"])
        let o = try a.options(environment: [:], currentDirectory: "/cwd")
        #expect(o.lease == 10 && o.heartbeat == 1 && o.grace == 30 && o.contract.restartCount == 1)
    }

    @Test func localModeUsesTheAgentAndLoopback() {
        let planner = LaunchPlanner(mode: .local(agentPath: "/r/local/rsh-agent"), command: ["true"], runDir: "/r", batonPath: "/b")
        let argv = planner.plan(hosts: HostList.local(count: 2), attempt: 1, shardDir: nil).mpirun
        #expect(argv.contains("/r/local/rsh-agent"))
        #expect(argv.contains("self,tcp"))
    }

    @Test func dryRunJSONDecodesBack() throws {
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: "/r", batonPath: "/b")
        let plan = planner.plan(hosts: hosts, attempt: 1, shardDir: nil)
        let decoded = try JSONDecoder().decode(LaunchPlan.self, from: Data(plan.json().utf8))
        #expect(decoded == plan)
    }
}

@Suite struct HeartbeatMonitorTests {
    let hosts = HostList(hosts: [BatonProtocol.Host(name: "n1", slots: 2), BatonProtocol.Host(name: "n2", slots: 1)])

    func line(_ kind: TaggedLine.Kind, _ node: String, _ rank: Int, _ payload: String = "") -> TaggedLine {
        TaggedLine(kind: kind, node: node, rank: rank, payload: payload)
    }

    @Test func silentNodeBecomesOverdueAfterTheTimeout() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 100)
        m.record(line(.hb, "n1", 0), at: 101)
        m.record(line(.hb, "n2", 2), at: 101)
        m.record(line(.hb, "n1", 1), at: 103.5)
        #expect(m.overdue(at: 103.9).isEmpty)
        let late = m.overdue(at: 104.5)
        #expect(late.map(\.node) == ["n2"])
        #expect(abs(late[0].silentFor - 3.5) < 1e-9)
    }

    @Test func nodesThatNeverSpokeGetTheStartupTimeout() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0, startupTimeout: 20)
        m.record(line(.hb, "n1", 0), at: 1)
        #expect(m.overdue(at: 10).map(\.node) == ["n1"])
        #expect(m.overdue(at: 21).map(\.node) == ["n1", "n2"])
    }

    @Test func finishedNodesAreNeverOverdue() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0)
        m.record(line(.hb, "n1", 0), at: 1)
        m.record(line(.exit, "n2", 2, "code=0"), at: 1)
        #expect(m.overdue(at: 50).map(\.node) == ["n1"])
    }

    @Test func linesOfOtherJobsAreIgnored() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0)
        let wrongRank = m.record(line(.hb, "n2", 0), at: 1)
        let wrongNode = m.record(line(.hb, "n9", 2), at: 1)
        #expect(!wrongRank && !wrongNode)
    }

    @Test func consumedIsTheLargestReported() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0)
        m.record(line(.metric, "n1", 0, "{\"step\": 4, \"consumed\": 24}"), at: 1)
        m.record(line(.metric, "n2", 2, "{\"consumed\": 12}"), at: 1)
        m.record(line(.metric, "n2", 2, "not json"), at: 1)
        #expect(m.consumed == 24)
    }

    @Test func firstFailureIgnoresEndsCausedByTeardown() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0)
        m.record(line(.exit, "n1", 0, "signal=15 after=SIGTERM"), at: 1)
        m.record(line(.exit, "n2", 2, "code=3"), at: 2)
        m.record(line(.exit, "n1", 1, "code=0"), at: 3)
        #expect(m.firstFailure?.rank == 2)
        #expect(m.firstFailure?.exit == RankExit(status: .exited(3)))
    }

    @Test func silentNodesAreThoseThatNeverSpokeOfTheirEnd() {
        var m = HeartbeatMonitor(hosts: hosts, timeout: 3, start: 0)
        m.record(line(.note, "n1", 1, "received SIGTERM, forwarded to the command"), at: 1)
        #expect(m.silentNodes == ["n2"])
    }

    @Test func mpirunLossMessagesNameTheNode() {
        let ompi = ["ORTE has lost communication with a remote daemon.", "  HNP daemon   : [[2220,0],0] on node vm",
                    "  Remote daemon: [[2220,0],3] on node local-2"]
        #expect(nodesNamedLost(inMpirunOutput: ompi) == ["local-2"])
        // An agent's own words are not trusted (ssh prints none); its end is judged instead.
        #expect(nodesNamedLost(inMpirunOutput: ["baton-agent: node bx-n3 lost: its daemon was killed (SIGKILL)"]).isEmpty)
        #expect(nodesNamedLost(inMpirunOutput: ["  Remote daemon: [[1,0],3] on node x"]).isEmpty)
    }

    @Test func exitPayloadsRoundTripAndTellATeardownFromAFailure() {
        for e in [RankExit(status: .exited(0)), RankExit(status: .exited(3)), RankExit(status: .signaled(9)),
                  RankExit(status: .exited(143), after: SIGTERM), RankExit(status: .signaled(15), after: SIGINT)] {
            #expect(RankExit.decode(e.payload) == e, "\(e.payload)")
        }
        #expect(RankExit(status: .exited(3)).failedByItself)
        #expect(!RankExit(status: .exited(143), after: SIGTERM).failedByItself)
        #expect(RankExit(status: .exited(0), after: SIGTERM).payload == "code=0")
        #expect(RankExit.decode("nonsense") == nil)
    }

    @Test func simulatedNodesHaveLoopbackAddressesOfTheirOwnAndPlansUseThem() {
        #expect(LocalNodes.address(of: "local-0") == "127.1.0.1")
        #expect(LocalNodes.address(of: "local-251") == "127.1.1.2")
        #expect(LocalNodes.address(of: "local-01") == nil)
        #expect(LocalNodes.address(of: "node1") == nil)
        let p = LaunchPlanner(mode: .local(agentPath: "/r/local/rsh-agent"), command: ["true"], runDir: "/r", batonPath: "/bin/baton")
        let plan = p.plan(hosts: LocalNodes.hosts(count: 2), attempt: 1, shardDir: nil, port: 40001)
        #expect(plan.ranks.allSatisfy { $0.environment["MASTER_ADDR"] == "127.1.0.1" && $0.environment["MASTER_PORT"] == "40001" })
        let i = plan.mpirun.firstIndex(of: "--master-addr")
        #expect(i != nil && plan.mpirun[i! + 1] == "127.1.0.1")
        #expect(plan.mpirunEnvironment[LaunchPlanner.attemptTokenVariable] == "/r#1")
    }

    @Test func freePortsAreNeverHandedToTwoRunningAttempts() {
        let ports = (0..<20).map { _ in MasterPort.reserve(near: "127.1.0.1") }
        #expect(Set(ports).count == 20)
        #expect(ports.allSatisfy { $0 > 1024 })
        ports.forEach(MasterPort.release)
    }

    @Test("MASTER_PORT comes from below the ephemeral range, where no outgoing connection can take it before rank 0 binds")
    func masterPortBelowEphemeralRange() {
        let ephemeral = MasterPort.ephemeralStart()
        let ports = (0..<10).map { _ in MasterPort.reserve(near: "127.1.0.1") }
        #expect(ports.allSatisfy { $0 >= MasterPort.lowest && $0 < ephemeral })
        ports.forEach(MasterPort.release)
    }

    @Test func slurmTasksPerNodeInAllItsForms() throws {
        #expect(try HostSource.slurmTasksPerNode("2(x3)", nodes: 3) == [2, 2, 2])
        #expect(try HostSource.slurmTasksPerNode("4,2(x2)", nodes: 3) == [4, 2, 2])
        #expect(try HostSource.slurmTasksPerNode("2", nodes: 4) == [2, 2, 2, 2])
        #expect(throws: HostListError.self) { try HostSource.slurmTasksPerNode("2(x2)", nodes: 3) }
        #expect(throws: HostListError.self) { try HostSource.slurmTasksPerNode("2(y2)", nodes: 2) }
        let s = try HostSource.resolve(hostfile: nil, hosts: nil, local: nil,
                                       environment: ["SLURM_JOB_NODELIST": "sl[1-3]", "SLURM_TASKS_PER_NODE": "2(x3)"])
        #expect(s.hosts.hosts.map(\.spec) == ["sl1:2", "sl2:2", "sl3:2"])
        #expect(throws: HostListError.self) { try HostSource.resolve(hostfile: nil, hosts: "a", local: 2, environment: [:]) }
    }

    @Test func insideASlurmAllocationEverySrunStepOverlapsAndExcludesTheNodesLeftOut() {
        #expect(SlurmAllocation.current(environment: ["SLURM_JOB_NODELIST": "sl[1-3]"]) == nil)
        let a = SlurmAllocation.current(environment: ["SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "sl[1-3]"])
        #expect(a == SlurmAllocation(jobID: "7", nodes: ["sl1", "sl2", "sl3"]))
        #expect(a?.srunArguments(for: ["sl1", "sl2", "sl3"]) == ["--overlap"])
        var planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: "/r", batonPath: "/b/baton")
        planner.slurm = a
        let survivors = HostList(hosts: [BatonProtocol.Host(name: "sl1", slots: 2), BatonProtocol.Host(name: "sl3", slots: 2)])
        let argv = planner.plan(hosts: survivors, attempt: 2, shardDir: nil).mpirun
        let i = argv.firstIndex(of: "plm_slurm_args")!
        #expect(argv[i - 1] == "--mca" && argv[i + 1] == "--overlap --exclude=sl2")
        // Not for simulated nodes, and not outside an allocation.
        planner.slurm = nil
        #expect(!planner.plan(hosts: survivors, attempt: 2, shardDir: nil).mpirun.contains("plm_slurm_args"))
    }

    @Test func aLaunchOnWhichNoNodeEverReportsBlamesNoNode() throws {
        // An "mpirun" whose launch never starts (as an srun step that pends): it says nothing.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-never-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = "\(dir)/mpirun"
        try "#!/bin/sh\nexec sleep 60\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: "\(dir)/run", batonPath: "/b/baton", mpirunPath: fake,
                                    heartbeat: 0.1, lease: 0.2, grace: 0.5, masterPort: 29500)
        var options = LaunchOptions(hosts: HostList(hosts: [BatonProtocol.Host(name: "sl1", slots: 1), BatonProtocol.Host(name: "sl2", slots: 1)]),
                                    planner: planner)
        options.heartbeatTimeout = 0.2
        options.startupTimeout = 0.3
        let report = try LaunchSupervisor(options: options, executor: MpirunExecutor(), console: SilentConsole()).run()
        #expect(report.result == .failed)
        #expect(report.attempts.count == 1)
        #expect(report.attempts[0].outcome == .failedToStart)
        #expect(report.attempts[0].lost.isEmpty)
        #expect(report.attempts[0].detail?.contains("sl1,sl2 never reported") == true)
    }
}

struct SilentConsole: LaunchConsole {
    func rankLine(node: String, rank: Int, text: String, isError: Bool) {}
    func message(_ text: String) {}
    func status(_ text: String) {}
}

@Suite(.serialized) struct AgentWatchTests {
    @Test func anAgentIsKnownByTheHostInItsArgvAndItsEndNamesTheNode() throws {
        let agent = try ChildProcess.spawn(["sh", "-c", "sleep 30; :", "node-b"], environment: ProcessInfo.processInfo.environment,
                                           stdin: .null, stdout: .null, stderr: .null)
        let other = try ChildProcess.spawn(["sh", "-c", "sleep 30; :", "not-a-host"], environment: ProcessInfo.processInfo.environment,
                                           stdin: .null, stdout: .null, stderr: .null)
        defer { other.signal(SIGKILL); _ = other.wait() }
        var watch = AgentWatch(mpirun: getpid(), hosts: ["node-a", "node-b"])
        // Polled until seen: a just-spawned child briefly shows the parent's argv.
        let deadline = monotonicNow() + 10
        while watch.seen["node-b"] == nil && monotonicNow() < deadline {
            watch.scan(at: monotonicNow())
            usleep(10_000)
        }
        #expect(watch.seen["node-b"] == agent.pid)
        #expect(watch.seen.count == 1)
        watch.scan(at: 1)
        #expect(watch.ended.isEmpty)
        agent.signal(SIGKILL)
        _ = agent.wait()
        watch.scan(at: 2)
        #expect(watch.ended == ["node-b": 2])
    }

    @Test("an agent whose argv names no host (a shell that runs the daemon) is known by the rank of a wrapper under it")
    func anAgentIsKnownByTheRanksUnderIt() throws {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_COMM_WORLD_RANK"] = "3"
        // The agent: a shell whose argv is "sh -c ..."; its child plays a wrapper of rank 3.
        let agent = try ChildProcess.spawn(["sh", "-c", "env OMPI_COMM_WORLD_RANK=3 sleep 30; :"],
                                           environment: ProcessInfo.processInfo.environment, stdin: .null, stdout: .null, stderr: .null)
        defer { agent.signal(SIGKILL); _ = agent.wait() }
        var watch = AgentWatch(mpirun: getpid(), hosts: ["node-a", "node-b"], nodeOfRank: [0: "node-a", 1: "node-a", 2: "node-b", 3: "node-b"])
        let deadline = monotonicNow() + 10
        while watch.seen["node-b"] == nil && monotonicNow() < deadline {
            watch.scan(at: monotonicNow())
            usleep(10_000)
        }
        #expect(watch.seen["node-b"] == agent.pid)
        #expect(watch.seenHere == ["node-b"])
    }
}

