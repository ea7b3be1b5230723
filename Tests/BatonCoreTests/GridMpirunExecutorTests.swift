import Foundation
import Testing
@testable import BatonCore

@Suite struct GridMpirunExecutorTests {
    func launch() -> AttemptLaunch {
        AttemptLaunch(
            attemptID: 7, configID: "abc123", attempt: 2, argv: ["train.py", "--lr", "0.1"], nodes: [1], ranksPerNode: 2,
            environment: ["BATON_CHECKPOINT_DIR": "/runs/g/configs/abc123/checkpoint", "BATON_RESUME": "1",
                          "BATON_METRICS": "/runs/g/configs/abc123/attempt-2.metrics.jsonl", "BATON_CONFIG": "{\"lr\":0.1}"],
            logPath: nil, metricsPath: nil, timeout: nil)
    }

    @Test func anAttemptIsOneMpirunJobOnItsNodeWithTheGridContractPassedToEveryWrapper() {
        var s = MpirunGridExecutor.Settings(batonPath: "/bin/baton", environment: [:])
        s.lease = 4
        let ex = MpirunGridExecutor(hosts: HostList(hosts: [Host(name: "a", slots: 1), Host(name: "b", slots: 1)]),
                                    runDir: "/runs/g", settings: s)
        let plan = ex.planner(for: launch()).plan(hosts: HostList(hosts: [Host(name: "b", slots: 2)]), attempt: 2, shardDir: nil)
        let argv = plan.mpirun
        #expect(Array(argv.prefix(5)) == ["mpirun", "--host", "b:2", "-np", "2"])
        let dash = argv.lastIndex(of: "--")!
        #expect(Array(argv[(dash + 1)...]) == ["train.py", "--lr", "0.1"])
        let execArgs = Array(argv[..<dash])
        for kv in ["BATON_CHECKPOINT_DIR=/runs/g/configs/abc123/checkpoint", "BATON_RESUME=1",
                   "BATON_METRICS=/runs/g/configs/abc123/attempt-2.metrics.jsonl", "BATON_GRID_ATTEMPT=/runs/g#7"] {
            let i = execArgs.firstIndex(of: kv)
            #expect(i != nil && execArgs[i! - 1] == "--env", "missing --env \(kv)")
        }
        #expect(plan.contract.runDir == "/runs/g/configs/abc123/mpirun/attempt-2")
        #expect(plan.lease == 4)
    }

    @Test func execEnvOverridesWinOverTheWrappersOwnContract() {
        let contract = JobContract(runDir: "/r", configID: "c", attempt: 2, restartCount: 1, masterAddr: nil, masterPort: 29500, shardDir: nil)
        var options = ExecOptions(contract: contract, nodes: HostList(hosts: [Host(name: "n", slots: 1)]), command: ["true"])
        options.extraEnvironment = ["BATON_CHECKPOINT_DIR": "/stable/checkpoint", "BATON_RESUME": "0"]
        let env = ExecWrapper(options: options, environment: [:]).commandEnvironment(base: ["PATH": "/bin"])
        #expect(env["BATON_CHECKPOINT_DIR"] == "/stable/checkpoint")
        #expect(env["BATON_RESUME"] == "0")
        #expect(env["BATON_CONFIG_ID"] == "c")
        #expect(env["PATH"] == "/bin")
    }
}
