import ArgumentParser
import BatonGrid
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct GridRunCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a grid (the default: `baton grid SPEC ...`).")

    @Argument(help: "The grid spec (YAML). With --resume, an optional changed spec whose new configs are added.")
    var spec: String?

    @Option(name: .customLong("local"), help: "Simulate N nodes on this machine (real processes).")
    var local: Int?

    @Option(name: .customLong("hostfile"), help: "An Open MPI hostfile: one config attempt is an mpirun job on its node(s).")
    var hostfile: String?

    @Option(name: [.customShort("H"), .customLong("hosts")], help: "Hosts, Horovod style: h1:2,h2:4 (mpirun executor; ranks per node come from the spec).")
    var hosts: String?

    @Option(name: .customLong("run-dir"), help: "Where the run store, logs, metrics and checkpoints go.")
    var runDir: String?

    @Option(name: .customLong("heartbeat-timeout"), help: "A node silent this long is lost; also the lease.")
    var heartbeatTimeout: String = "10s"

    @Option(name: .customLong("cool-down"), help: "A dead node is checked by the health gate after this long (doubled by each failed check, at most 16 times) and re-admitted if it passes.")
    var coolDown: String = "60s"

    @Option(name: .customLong("health-timeout"), help: "A dead node's health check must answer within this.")
    var healthTimeout: String = "10s"

    @Option(name: .customLong("resume"), help: "Continue the run in this directory.")
    var resume: String?

    @Flag(help: "Keep running after the terminal closes; the head logs to RUN_DIR/head.log.")
    var detach = false

    @Option(name: .customLong("fail-node"), help: "Fault injection on --local runs: the node to take down, e.g. local-1.")
    var failNode: String?

    @Option(name: .customLong("fail-after"), help: "Fault injection: how long after the first attempt starts, e.g. 20s.")
    var failAfter: String?

    @Option(name: .customLong("fail-signal"), help: "Fault injection: KILL (crash) or STOP (hang).")
    var failSignal: String = "KILL"

    @Flag(help: "Print only the live summary, not a line per event.")
    var quiet = false

    @Option(name: .customLong("on-corrupt-checkpoint"),
            help: "A config whose command exits with BATON_CORRUPT_CHECKPOINT_EXIT (65): fail (a failed attempt like any other) or rollback (its checkpoint restored from the newest snapshot that verifies, then retried).")
    var onCorruptCheckpoint: String?
    @OptionGroup(title: "Hangs (a hung config is a failed attempt, retried as any)") var hang: HangOptions

    @Option(name: .customLong("snapshot-every"), help: "Take a snapshot of the run this often while it runs (e.g. 30m), and one at its end (docs/snapshots.md).")
    var snapshotEvery: String?

    @Option(name: .customLong("snapshot-on"), parsing: .singleValue,
            help: "Also take a snapshot at a milestone: done (every config that finishes) or best (a config with the best objective so far). Repeatable.")
    var snapshotOn: [String] = []

    @Option(name: .customLong("keep-snapshots"), help: "With --snapshot-every/--snapshot-on: keep the N newest snapshots, remove older ones.")
    var keepSnapshots: Int?

    @Option(name: .customLong("snapshot-to"), help: "With --snapshot-every/--snapshot-on: put the snapshots here instead of RUN_DIR/snapshots.")
    var snapshotTo: String?

    @Option(help: .hidden) var detachedHead: String?

    var request: GridHeadRequest {
        var r = GridHeadRequest()
        (r.spec, r.hosts, r.runDir, r.resume) = (spec, .init(hostfile: hostfile, hosts: hosts, local: local), runDir, resume)
        (r.heartbeatTimeout, r.coolDown, r.healthTimeout) = (heartbeatTimeout, coolDown, healthTimeout)
        (r.failNode, r.failAfter, r.failSignal) = (failNode, failAfter, failSignal)
        (r.quiet, r.onCorruptCheckpoint) = (quiet, onCorruptCheckpoint)
        r.hang = hang.settings
        (r.snapshotEvery, r.snapshotOn, r.keepSnapshots, r.snapshotTo) = (snapshotEvery, snapshotOn, keepSnapshots, snapshotTo)
        return r
    }

    func run() throws {
        let request = try detachedHead.map(GridHead.detached(request:)) ?? self.request
        if detach && detachedHead == nil {
            let p = try GridHead.prepare(request, say: { say($0) })
            let (pid, log) = try GridHead.detach(p)
            say("baton grid: running detached, head pid \(pid)")
            say("  log:     \(log)")
            say("  status:  baton grid status \(p.dir) --watch")
            say("  results: baton grid results \(p.dir)")
            say("  stop:    baton grid stop \(p.dir)")
            return
        }
        let ended = try GridHead.run(request, say: { say($0) })
        say("")
        say(GridReport.table(GridReport.results(ended.snapshot), objective: ended.objective, limit: 10), terminator: "")
        say("results: baton grid results \(ended.dir)  (--json, --csv)")
        switch ended.outcome {
        case .finished(_, let failed):
            if failed > 0 { throw CommandFailure.jobFailed }
        case .stopped:
            say("stopped; continue with: baton grid --resume \(ended.dir)")
            if ended.interrupted { throw CommandFailure.interrupted }
        case .noNodes:
            throw GridRunError("no node is left to run on; fix the nodes and `baton grid --resume \(ended.dir)`", exitCode: ExitCodes.jobFailed)
        }
    }
}
