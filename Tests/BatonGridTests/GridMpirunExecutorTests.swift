import Foundation
import Testing
@testable import BatonGrid
@testable import BatonProtocol
@testable import BatonExec

@Suite struct GridMpirunExecutorTests {
    func launch() -> AttemptLaunch {
        AttemptLaunch(
            attemptID: 7, configID: "abc123", attempt: 2, argv: ["train.py", "--lr", "0.1"], nodes: [1], ranksPerNode: 2,
            paramsJSON: "{\"lr\":0.1}", resume: true, checkpointDir: "/runs/g/configs/abc123/checkpoint",
            logPath: nil, metricsPath: "/runs/g/configs/abc123/attempt-2.metrics.jsonl", timeout: nil)
    }

    @Test func anAttemptIsOneMpirunJobOnItsNodeWithTheGridContractPassedToEveryWrapper() {
        var s = MpirunGridExecutor.Settings(batonPath: "/bin/baton", environment: [:])
        s.lease = 4
        let ex = MpirunGridExecutor(hosts: HostList(hosts: [BatonProtocol.Host(name: "a", slots: 1), BatonProtocol.Host(name: "b", slots: 1)]),
                                    runDir: "/runs/g", settings: s)
        let plan = ex.planner(for: launch()).plan(hosts: HostList(hosts: [BatonProtocol.Host(name: "b", slots: 2)]), attempt: 2, shardDir: nil)
        let argv = plan.mpirun
        #expect(Array(argv.prefix(5)) == ["mpirun", "--host", "b:2", "-np", "2"])
        let dash = argv.lastIndex(of: "--")!
        #expect(Array(argv[(dash + 1)...]) == ["train.py", "--lr", "0.1"])
        let execArgs = Array(argv[..<dash])
        for (option, value) in [("--checkpoint-dir", "/runs/g/configs/abc123/checkpoint"), ("--resume", "1"),
                                ("--metrics-file", "/runs/g/configs/abc123/attempt-2.metrics.jsonl"), ("--config", "{\"lr\":0.1}")] {
            let i = execArgs.firstIndex(of: option)
            #expect(i != nil && execArgs[i! + 1] == value, "missing \(option) \(value)")
        }
        // What every rank's command gets, built by the one contract: the grid's extension wins.
        let env = plan.ranks[1].environment
        #expect(env["BATON_CHECKPOINT_DIR"] == "/runs/g/configs/abc123/checkpoint")
        #expect(env["BATON_RESUME"] == "1")
        #expect(env["BATON_METRICS"] == "/runs/g/configs/abc123/attempt-2.metrics.jsonl")
        #expect(env["BATON_CONFIG"] == "{\"lr\":0.1}")
        #expect(plan.contract.forwardsMetrics(rank: 0) && !plan.contract.forwardsMetrics(rank: 1))
        #expect(plan.contract.runDir == "/runs/g/configs/abc123/mpirun/attempt-2")
        #expect(plan.lease == 4)
    }

    @Test func theSpecsContainerReachesEveryWrapperAndEveryRanksRunCommandMountsTheConfigsDirectories() {
        var s = MpirunGridExecutor.Settings(batonPath: "/bin/baton", environment: [:])
        s.container = ContainerRun(image: "img:1", runtime: "/opt/podman", options: ["--rootfs"])
        let ex = MpirunGridExecutor(hosts: HostList(hosts: [BatonProtocol.Host(name: "a", slots: 1)]), runDir: "/runs/g", settings: s)
        let plan = ex.planner(for: launch()).plan(hosts: HostList(hosts: [BatonProtocol.Host(name: "a", slots: 2)]), attempt: 2, shardDir: nil)
        let argv = plan.mpirun
        for (option, value) in [("--container", "img:1"), ("--container-runtime", "/opt/podman")] {
            let i = argv.firstIndex(of: option)
            #expect(i != nil && argv[i! + 1] == value, "missing \(option) \(value)")
        }
        #expect(argv.contains("--container-option=--rootfs"))
        let run = try! #require(plan.ranks[1].container)
        #expect(Array(run.prefix(2)) == ["/opt/podman", "run"])
        #expect(run[run.firstIndex(of: "--name")! + 1] == ContainerRun.name(runDir: "/runs/g/configs/abc123/mpirun/attempt-2", attempt: 2, rank: 1))
        // The attempt's run directory, the config's checkpoint directory (the same for every
        // attempt: a resumed attempt's container sees it) and the metrics file's directory.
        for dir in ["/runs/g/configs/abc123/mpirun/attempt-2", "/runs/g/configs/abc123/checkpoint", "/runs/g/configs/abc123"] {
            #expect(run.contains("\(dir):\(dir)"), "no volume \(dir)")
        }
        for e in ["BATON_RESUME=1", "BATON_CHECKPOINT_DIR=/runs/g/configs/abc123/checkpoint", "BATON_CONFIG={\"lr\":0.1}",
                  "BATON_METRICS=/runs/g/configs/abc123/attempt-2.metrics.jsonl"] {
            #expect(run.contains(e), "no --env \(e)")
        }
        #expect(Array(run.suffix(5)) == ["--rootfs", "img:1", "train.py", "--lr", "0.1"])
    }

    @Test func theWrapperParsesTheGridsContractOptions() throws {
        let a = try #require(ExecArguments.parse(["--run-dir", "/r", "--checkpoint-dir", "/stable", "--metrics-file", "/m.jsonl",
                                                  "--resume", "0", "--attempt", "3", "--", "true"]))
        let o = try a.options(environment: [:], currentDirectory: "/")
        let env = ExecWrapper(options: o, environment: [:]).commandEnvironment(base: [:])
        #expect(env["BATON_CHECKPOINT_DIR"] == "/stable")
        #expect(env["BATON_METRICS"] == "/m.jsonl")
        #expect(env["BATON_RESUME"] == "0")
        #expect(env["BATON_ATTEMPT"] == "3")
        #expect(ExecArguments.parse(["--resume", "yes", "--", "true"]) == nil)
    }

    @Test func execEnvOverridesWinOverTheWrappersOwnContract() {
        let contract = JobContract(runDir: "/r", configID: "c", attempt: 2, restartCount: 1, masterAddr: nil, masterPort: 29500, shardDir: nil)
        var options = ExecOptions(contract: contract, nodes: HostList(hosts: [BatonProtocol.Host(name: "n", slots: 1)]), command: ["true"])
        options.extraEnvironment = ["BATON_CHECKPOINT_DIR": "/stable/checkpoint", "BATON_RESUME": "0"]
        let env = ExecWrapper(options: options, environment: [:]).commandEnvironment(base: ["PATH": "/bin"])
        #expect(env["BATON_CHECKPOINT_DIR"] == "/stable/checkpoint")
        #expect(env["BATON_RESUME"] == "0")
        #expect(env["BATON_CONFIG_ID"] == "c")
        #expect(env["PATH"] == "/bin")
    }

    @Test func daemonsSkipHwlocsIODiscoveryButTheCommandSeesItsDevicesAsWithoutBaton() {
        let mpirunEnv = DaemonEnvironment.adding(to: ["PATH": "/bin"])
        #expect(mpirunEnv["HWLOC_COMPONENTS"] == "-linuxio,-pci")
        let options = ExecOptions(contract: JobContract(runDir: "/r", masterPort: 29500), nodes: nil, command: ["true"])
        let cmd = ExecWrapper(options: options, environment: [:]).commandEnvironment(base: mpirunEnv)
        #expect(cmd["HWLOC_COMPONENTS"] == nil && cmd["BATON_DAEMON_HWLOC"] == nil && cmd["PATH"] == "/bin")
        // A user's own setting is theirs: neither replaced for the daemons nor taken from the command.
        let own = DaemonEnvironment.adding(to: ["HWLOC_COMPONENTS": "-pci"])
        #expect(own == ["HWLOC_COMPONENTS": "-pci"])
        #expect(ExecWrapper(options: options, environment: [:]).commandEnvironment(base: own)["HWLOC_COMPONENTS"] == "-pci")
    }

    @Test func aResultsLastWordsKeepTheRanksLinesWhenMpirunCrashesLoudly() {
        let rank = ["local-1:0 baton exec: cannot start '/nonexistent/x'", "baton: command failed: rank 0"]
        let backtrace = (0..<25).map { "mpirun: [vm:1] [ \($0)] frame" }
        let words = GridFiles.lastWords([rank[0]] + backtrace + [rank[1]], lines: 20)
        #expect(words.count == 20)
        #expect(words.first == rank[0] && words.last == rank[1])
        #expect(words.dropFirst().dropLast() == ArraySlice(backtrace.suffix(18)))
        // Many rank lines: mpirun's keep their last 6.
        let many = (0..<30).map { "local-0:0 step \($0)" }
        let mixed = GridFiles.lastWords(many + backtrace, lines: 20)
        #expect(mixed == Array(many.suffix(14)) + Array(backtrace.suffix(6)))
        // With few rank lines mpirun's take the rest, in order.
        let banner = (0..<12).map { "mpirun: line \($0)" }
        #expect(GridFiles.lastWords(banner + [rank[1]], lines: 20) == banner + [rank[1]])
        #expect(GridFiles.lastWords(Array(repeating: "r", count: 30), lines: 20).count == 20)
    }
}
