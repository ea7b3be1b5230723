import ArgumentParser
import BatonLaunch
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension RankFailurePolicy: ExpressibleByArgument {}

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run one job across nodes through mpirun, with heartbeats and elastic restart on node loss.",
        discussion: """
            Hosts: --hostfile F (Open MPI/DeepSpeed format), -H h1:2,h2:2, --local N (simulated nodes on
            this machine), or SLURM_JOB_NODELIST inside a Slurm allocation. Every rank runs under
            `baton exec`; a node silent for --heartbeat-timeout, or lost as mpirun reports, stops the job,
            which restarts on the survivors (at least --min-nodes, at most --max-restarts times).
            A rank that fails by itself on a healthy node ends the job (--on-rank-failure fail, as mpirun
            and srun do) or, with --on-rank-failure restart, restarts it on the same nodes from the last
            consumed count (as torchrun does), counted against --max-restarts.
            --nnodes N (or MIN:MAX) with more hosts: the rest are spares; a lost node's place goes to a health-checked
            spare (WORLD_SIZE stays), lost nodes rejoin after --cool-down (docs/launch.md, "Spare nodes").
            Run state: RUN/events.jsonl, RUN/report.json, RUN/logs/<node>.<rank>.log, RUN/attempts/.
            MASTER_ADDR is the first node (a loopback address of its own for --local nodes), MASTER_PORT a
            free port per attempt unless --master-port pins it.
            --detach: the head runs in a session of its own (it outlives the terminal), its output in
            RUN/head.log, its pid in RUN/head.pid; stop it with kill -TERM $(cat RUN/head.pid).
            --resume RUN: take over a run whose head was stopped or killed. Its spec (hosts, settings, command)
            comes from RUN/launch.json; the next attempt waits for the old one's processes to be gone, starts on the
            last attempt's nodes (less those it lost; or the hosts given now, or the current Slurm
            allocation), re-shards from the most samples consumed, with BATON_RESUME=1. A completed run is
            not rerun (exit 0). Watch any run with `baton status RUN`, `baton logs RUN -f`, `baton runs`.
            Run state: RUN/launch.sqlite (the run store; events.jsonl and report.json are written from
            it); `baton launch report RUN [--json]` prints the report from the store.
            Exit: 0 completed, 2 bad input (nothing started), 3 mpirun not found, 4 job failed, 130 interrupted.
            """,
        subcommands: [LaunchReportCommand.self])

    @Option(help: "Open MPI / DeepSpeed hostfile (host slots=N).") var hostfile: String?
    @Option(name: .customShort("H"), help: "Hosts as h1:2,h2:2.") var hosts: String?
    @Option(help: "Simulate N nodes on this machine (real processes, one mpirun daemon per node).") var local: Int?
    @Option(help: "Ranks per node (overrides the slots of the host list).") var nprocPerNode: Int?
    @Option(help: "Run directory.") var runDir: String = "baton-run"
    @Option(help: "Restarts allowed after node loss.") var maxRestarts: Int = 3
    @Option(help: "Fewest nodes to restart on.") var minNodes: Int = 1
    @Option(help: "A rank that fails on a healthy node: fail (end the job) or restart (on the same nodes, counted against --max-restarts).")
    var onRankFailure: RankFailurePolicy = .fail
    @OptionGroup(title: "Hangs") var hang: HangOptions
    @OptionGroup(title: "Spare nodes and the health gate") var spares: SpareOptions
    @OptionGroup(title: "Containers") var containers: ContainerOptions
    @Option(help: "A node silent this long is lost.") var heartbeatTimeout: String = "10s"
    @Option(help: "Heartbeat interval of every rank.") var heartbeat: String = "1s"
    @Option(help: "How long a node may take to send its first line.") var startupTimeout: String = "30s"
    @Option(help: "Lease period: a rank that hears no renewal this long kills its command (default: the heartbeat timeout).")
    var lease: String?
    @Option(help: "Time between SIGTERM and SIGKILL.") var grace: String = "30s"
    @Option(help: "Only show the output of these ranks (all still go to the log files), e.g. 0,3.") var ranks: String?
    @Option(help: "Shard N samples across the ranks (BATON_SHARD_FILE); re-sharded on restart.") var shardSamples: Int?
    @Flag(help: "Shuffle the samples (a pure function of seed and epoch).") var shardShuffle = false
    @Option(help: "Shuffle seed.") var shardSeed: UInt64 = 0
    @Option(help: "Epoch.") var shardEpoch: Int = 0
    @Option(help: "Pin MASTER_PORT (default: a free port chosen per attempt on the first node).") var masterPort: Int?
    @Option(help: "mpirun to use.") var mpirun: String = "mpirun"
    @Option(help: "Path of baton on the nodes (default: this binary).") var baton: String?
    @Flag(help: "Print the plan as JSON and start nothing.") var dryRun = false
    @Flag(help: "Keep running after the terminal closes: the head logs to RUN/head.log, its pid in RUN/head.pid.")
    var detach = false
    @Option(help: ArgumentHelp("Resume the launch run in this directory (its head stopped or killed) with the command line it was started with.",
                               valueName: "run-dir")) var resume: String?
    @Option(help: "Take a snapshot of the run this often while it runs (e.g. 30m), and one at its end (docs/snapshots.md).")
    var snapshotEvery: String?
    @Option(help: "With --snapshot-every: keep the N newest snapshots, remove older ones.") var keepSnapshots: Int?
    @Option(help: "With --snapshot-every: put the snapshots here instead of RUN/snapshots.") var snapshotTo: String?
    @Argument(parsing: .postTerminator, help: "The command every rank runs, after --.") var command: [String] = []

    @Option(help: .hidden) var detachedHead: String?

    /// The spec these options stand for (`--resume` reads the stored one instead).
    var spec: LaunchSpec {
        var s = LaunchSpec()
        s.hosts = .init(hostfile: hostfile, hosts: hosts, local: local)
        s.nprocPerNode = nprocPerNode
        s.maxRestarts = maxRestarts
        s.minNodes = minNodes
        s.onRankFailure = onRankFailure
        s.hang = hang.settings
        s.pool = spares.settings
        s.container = containers.run
        (s.heartbeatTimeout, s.heartbeat, s.startupTimeout, s.lease, s.grace) = (heartbeatTimeout, heartbeat, startupTimeout, lease, grace)
        s.ranks = ranks
        (s.shardSamples, s.shardShuffle, s.shardSeed, s.shardEpoch) = (shardSamples, shardShuffle, shardSeed, shardEpoch)
        s.masterPort = masterPort
        s.mpirun = mpirun
        s.baton = baton
        (s.snapshotEvery, s.keepSnapshots, s.snapshotTo) = (snapshotEvery, keepSnapshots, snapshotTo)
        s.command = command
        return s
    }

    func run() throws {
        let head: LaunchHead
        if let detachedHead {
            head = try LaunchHead.detached(request: detachedHead)
        } else if let resume {
            guard command.isEmpty else { throw LaunchError(.badInput, "--resume takes its command from RUN/launch.json; give none after --") }
            switch try LaunchHead.resume(runDir: resume, hosts: .init(hostfile: hostfile, hosts: hosts, local: local)) {
            case .completed(let text): print(text); return
            case .head(let h): head = h
            }
        } else {
            head = LaunchHead(spec: spec, runDir: runDir)
        }
        let note: @Sendable (String) -> Void = { _ = writeAll(fd: 2, $0 + "\n") }
        if dryRun && resume == nil && detachedHead == nil { return print(try head.dryRun(note: note)) }
        if detach {
            let (pid, log) = try head.detach(note: note)
            let run = head.runDir
            print("baton launch: running detached, head pid \(pid)")
            print("  run dir: \(run)")
            print("  watch:   tail -f \(log)   (rank logs: \(run)/logs/, state: \(run)/events.jsonl)")
            print("  result:  \(run)/report.json once it ends")
            print("  stop:    kill -TERM \(pid)")
            return
        }
        let report = try head.run(console: TerminalConsole(), note: note)
        TerminalConsole().clearStatus()
        FileHandle.standardError.write(Data((report.summary + "\n").utf8))
        if report.exitCode != 0 { throw CommandFailure(report.exitCode) }
    }
}
