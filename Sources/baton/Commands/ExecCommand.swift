import ArgumentParser
import BatonProtocol
import BatonExec
import Foundation

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "The per-rank wrapper mpirun starts: environment, logs, heartbeats, metrics, signals, fencing.",
        discussion: """
            Usually started by `baton launch`; also works under a plain `mpirun ... baton exec -- CMD`.
            Every line on stdout is a tagged line `@baton/1 <kind> <node> <rank> <payload>` (docs/launch.md).
            Exits with the command's code, 128+signal when it was killed.
            """)

    @Option(help: "Run directory (logs, metrics, checkpoints). Default: $BATON_RUN_DIR or ./baton-run.")
    var runDir: String?
    @Option(help: "The job's nodes in placement order, name:slots,... Default: $BATON_NODES.")
    var nodes: String?
    @Option(help: "Attempt number (1 = first start).") var attempt: Int = 1
    @Option(help: "Heartbeat interval, e.g. 1s, 500ms.") var heartbeat: String = "1s"
    @Option(help: "Lease period; given only by a Baton head: renewals come on stdin, none for this long = fence.")
    var lease: String?
    @Option(help: "Grace between SIGTERM to the command and SIGKILL.") var grace: String = "10s"
    @Option(help: "MASTER_ADDR (default: the first node).") var masterAddr: String?
    @Option(help: "MASTER_PORT.") var masterPort: Int = 29500
    @Option(help: "Directory with rank-<r>.npy shard files (sets BATON_SHARD_FILE).") var shardDir: String?
    @Option(help: "BATON_CONFIG_ID.") var configId: String = "launch"
    @Option(help: "BATON_CONFIG (JSON).") var config: String = "{}"
    @Option(help: "BATON_CHECKPOINT_DIR (default: RUN/checkpoints); the grid's is stable across attempts.")
    var checkpointDir: String?
    @Option(help: "One BATON_METRICS file for every rank (rank 0 forwards it); default: one per rank under RUN/metrics.")
    var metricsFile: String?
    @Option(help: "BATON_RESUME, 0 or 1 (default: 1 on every attempt after the first).") var resume: Int?
    @Option(help: "An output line matching this regular expression is a step (the number in its first group, else the next).")
    var progressPattern: String?
    @Option(help: "A metrics line with this key is a step (its value).") var progressKey: String?
    @Option(help: "TORCHELASTIC_RUN_ID (default: the run directory).") var runId: String?
    @Option(help: "TORCHELASTIC_MAX_RESTARTS (unset by default).") var maxRestarts: Int?
    @Option(help: "BATON_PREVIOUS_WORLD_SIZE: the world size of the attempt before.") var previousWorld: Int?
    @Option(name: .customLong("env"), help: "KEY=VALUE set for the command after the contract (repeatable; a head's overrides).")
    var extraEnv: [String] = []
    @Argument(parsing: .postTerminator, help: "The command to run, after --.") var command: [String] = []

    func run() throws {
        var a = ExecArguments()
        a.runDir = runDir
        a.nodes = nodes
        a.attempt = attempt
        a.heartbeat = heartbeat
        a.lease = lease
        a.grace = grace
        a.masterAddr = masterAddr
        a.masterPort = masterPort
        a.shardDir = shardDir
        a.configID = configId
        a.config = config
        a.checkpointDir = checkpointDir
        a.metricsFile = metricsFile
        if let resume {
            guard resume == 0 || resume == 1 else { throw ValidationError("--resume takes 0 or 1, got \(resume)") }
            a.resume = resume == 1
        }
        a.progressPattern = progressPattern
        a.progressKey = progressKey
        (a.runID, a.maxRestarts, a.previousWorld) = (runId, maxRestarts, previousWorld)
        a.env = extraEnv
        a.command = command
        let options: ExecOptions
        do {
            options = try a.options(environment: ProcessInfo.processInfo.environment,
                                    currentDirectory: FileManager.default.currentDirectoryPath)
        } catch {
            throw ValidationError(error.description)
        }
        let code = ExecWrapper(options: options).run()
        throw ExitCode(code)
    }
}
