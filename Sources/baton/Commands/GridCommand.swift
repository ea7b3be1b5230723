import ArgumentParser
import BatonCore
import BatonSupport
import BatonSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct GridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid",
        abstract: "Run a hyperparameter grid, one config per node, handed off when a node fails.",
        discussion: """
            baton grid SPEC (--hostfile F | -H h1,h2 | --local N) [--run-dir D] [--heartbeat-timeout 10s] [--detach]
            baton grid --resume D          continue after the head was stopped or killed
            baton grid plan SPEC           show the configs in the order they run
            baton grid status D            configs, nodes, recent events (--watch for a live view)
            baton grid results D           sorted by the objective, best first (--json, --csv)
            baton grid stop D              stop the run; --resume continues it
            baton grid kill-node D NODE    fault injection on the local executor
            baton grid simulate            the scheduler at scale on simulated nodes
            See docs/grid.md.
            """,
        subcommands: [
            GridRunCommand.self, GridPlanCommand.self, GridStatusCommand.self, GridResultsCommand.self,
            GridStopCommand.self, GridKillNodeCommand.self, GridSimulateCommand.self,
        ],
        defaultSubcommand: GridRunCommand.self)
}

/// Prints a line and flushes (the detached head logs to a file).
fileprivate func say(_ text: String) {
    print(text)
    fflush(nil)
}

fileprivate func fail(_ text: String, _ code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("baton grid: \(text)\n".utf8))
    return ExitCode(code)
}

/// Set from signal handlers; read by the scheduler's stop check.
nonisolated(unsafe) fileprivate var gridInterrupted: sig_atomic_t = 0

struct GridRunCommand: ParsableCommand {
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

    @Option(name: .customLong("cool-down"), help: "A dead node is health-checked and re-admitted after this long.")
    var coolDown: String = "60s"

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

    @Option(name: .customLong("snapshot-every"), help: "Take a snapshot of the run this often while it runs (e.g. 30m), and one at its end (docs/snapshots.md).")
    var snapshotEvery: String?

    @Option(name: .customLong("snapshot-on"), parsing: .singleValue,
            help: "Also take a snapshot at a milestone: done (every config that finishes) or best (a config with the best objective so far). Repeatable.")
    var snapshotOn: [String] = []

    @Option(name: .customLong("keep-snapshots"), help: "With --snapshot-every/--snapshot-on: keep the N newest snapshots, remove older ones.")
    var keepSnapshots: Int?

    @Option(name: .customLong("snapshot-to"), help: "With --snapshot-every/--snapshot-on: put the snapshots here instead of RUN_DIR/snapshots.")
    var snapshotTo: String?

    func run() throws {
        guard let hb = parseDuration(heartbeatTimeout), hb > 0 else {
            throw fail("--heartbeat-timeout \(heartbeatTimeout) is not a duration (e.g. 10s)", ExitCodes.badInput)
        }
        guard let cool = parseDuration(coolDown) else {
            throw fail("--cool-down \(coolDown) is not a duration (e.g. 60s)", ExitCodes.badInput)
        }
        var snapshots: SnapshotSchedule.Settings?
        do { snapshots = try SnapshotSchedule.Settings.parse(every: snapshotEvery, keep: keepSnapshots, to: snapshotTo, on: snapshotOn) } catch {
            throw fail("\(error)", ExitCodes.badInput)
        }
        if let o = onCorruptCheckpoint, o != "fail" && o != "rollback" {
            throw fail("--on-corrupt-checkpoint: '\(o)' is not fail or rollback", ExitCodes.badInput)
        }
        let dir: String
        var newConfigs: [GridConfig]?
        let specDoc: GridSpec
        let settings: GridRun.Settings

        if let resume {
            dir = resume
            let store: GridStore
            do { store = try GridStore(runDir: dir) } catch { throw fail("\(error)", ExitCodes.badInput) }
            let meta = try store.meta()
            if let pid = GridHead.alivePID(meta) {
                throw fail("a head (pid \(pid)) is still running this grid; stop it with `baton grid stop \(dir)`", ExitCodes.badInput)
            }
            var s = try GridRun.Settings(meta: meta)
            do {
                if let spec {
                    specDoc = try GridSpec.load(path: spec)
                    newConfigs = try GridExpansion.expand(specDoc)
                    s.specText = try String(contentsOfFile: spec, encoding: .utf8)
                    s.specPath = spec
                } else {
                    specDoc = try GridSpec.parse(s.specText, file: s.specPath)
                }
            } catch let e as GridSpecError {
                throw fail("\(e)\nnothing was started", ExitCodes.badInput)
            }
            if let onCorruptCheckpoint { s.onCorruptCheckpoint = onCorruptCheckpoint }
            settings = s
            // The run keeps its snapshot settings unless new ones are given.
            if snapshots == nil { snapshots = SnapshotSchedule.Settings(meta: meta) }
        } else {
            guard let spec else { throw fail("give a spec file, or --resume RUN_DIR", ExitCodes.usage) }
            do {
                specDoc = try GridSpec.load(path: spec)
                newConfigs = try GridExpansion.expand(specDoc)
            } catch let e as GridSpecError {
                throw fail("\(e)\nnothing was started", ExitCodes.badInput)
            }
            let source: HostSource
            do {
                source = try HostSource.resolve(hostfile: hostfile, hosts: hosts, local: local, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw fail(error.description, ExitCodes.badInput)
            }
            let nodeNames = source.hosts.names
            let hostSource = source.description
            let executorName = source.isLocal ? "local" : "mpirun"
            if case .slurm = source.kind { say("baton grid: nodes from \(hostSource): \(nodeNames.joined(separator: ","))") }
            if nodeNames.count < specDoc.nodesPerConfig {
                throw fail("the spec asks for nodes_per_config \(specDoc.nodesPerConfig) but only \(nodeNames.count) nodes are given", ExitCodes.badInput)
            }
            let base = ((spec as NSString).lastPathComponent as NSString).deletingPathExtension
            let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withYear, .withMonth, .withDay, .withTime])
            dir = runDir ?? "baton-runs/\(base)-\(stamp)"
            var s = GridRun.Settings(
                specPath: spec, specText: try String(contentsOfFile: spec, encoding: .utf8),
                nodeNames: nodeNames, hostSource: hostSource, executor: executorName,
                heartbeatTimeout: hb, coolDown: cool)
            s.onCorruptCheckpoint = onCorruptCheckpoint ?? "fail"
            settings = s
            do {
                _ = try GridRun.create(runDir: dir, settings: settings, configs: newConfigs!)
            } catch {
                throw fail("\(error)", ExitCodes.badInput)
            }
            newConfigs = nil
        }
        let absDir = absolutePath(dir)

        var failures: [MpirunGridExecutor.Failure] = []
        if let failNode {
            guard let node = settings.nodeNames.firstIndex(of: failNode) else {
                throw fail("--fail-node \(failNode): no such node (nodes: \(settings.nodeNames.joined(separator: ", ")))", ExitCodes.badInput)
            }
            guard let after = failAfter.flatMap({ parseDuration($0) }) else {
                throw fail("--fail-node needs --fail-after DURATION", ExitCodes.badInput)
            }
            let sig: Int32 = failSignal.uppercased().hasSuffix("STOP") ? SIGSTOP : SIGKILL
            failures.append(.init(node: node, after: after, signal: sig, downFor: max(cool * 2, 60)))
        }

        if detach {
            var args = ["grid", "--resume", absDir, "--heartbeat-timeout", heartbeatTimeout, "--cool-down", coolDown]
            if resume != nil, let spec { args.insert(spec, at: 1) }
            if let failNode, let failAfter { args += ["--fail-node", failNode, "--fail-after", failAfter, "--fail-signal", failSignal] }
            if quiet { args.append("--quiet") }
            if let snapshotEvery { args += ["--snapshot-every", snapshotEvery] }
            for m in snapshotOn { args += ["--snapshot-on", m] }
            if let onCorruptCheckpoint { args += ["--on-corrupt-checkpoint", onCorruptCheckpoint] }
            if let keepSnapshots { args += ["--keep-snapshots", String(keepSnapshots)] }
            if let root = snapshots?.root { args += ["--snapshot-to", root] }
            let log = (absDir as NSString).appendingPathComponent("head.log")
            let pid: pid_t
            do { pid = try DetachedHead.detach(arguments: args, log: log) } catch { throw fail("\(error)", ExitCodes.jobFailed) }
            say("baton grid: running detached, head pid \(pid)")
            say("  log:     \(log)")
            say("  status:  baton grid status \(dir) --watch")
            say("  results: baton grid results \(dir)")
            say("  stop:    baton grid stop \(dir)")
            return
        }

        let store = try GridStore(runDir: absDir)
        if settings.executor != "local" && !failures.isEmpty {
            throw fail("--fail-node works on --local runs; on real nodes, fail them yourself (e.g. scripts/cluster crash NODE)", ExitCodes.usage)
        }
        signal(SIGINT) { _ in gridInterrupted = 1 }
        signal(SIGTERM) { _ in gridInterrupted = 1 }
        signal(SIGHUP, SIG_IGN)
        // Leases go to each mpirun's stdin; one that has just ended must not kill the head.
        signal(SIGPIPE, SIG_IGN)
        say("baton grid: run directory \(dir)")
        let outcome: GridOutcome
        do {
            outcome = try GridHead.run(store: store, settings: settings, spec: specDoc, runDir: absDir, newConfigs: newConfigs,
                                       failures: failures, quiet: quiet, snapshots: snapshots, interrupted: { gridInterrupted != 0 }, say: say)
        } catch let e as LaunchError {
            throw fail(e.description, ExitCodes.code(for: e))
        }

        let snap = try store.snapshot()
        let rows = GridReport.results(snap)
        say("")
        say(GridReport.table(rows, objective: specDoc.objective, limit: 10), terminator: "")
        say("results: baton grid results \(dir)  (--json, --csv)")
        switch outcome {
        case .finished(_, let failed):
            if failed > 0 { throw ExitCode(ExitCodes.jobFailed) }
        case .stopped:
            say("stopped; continue with: baton grid --resume \(dir)")
            if gridInterrupted != 0 { throw ExitCode(ExitCodes.interrupted) }
        case .noNodes:
            throw fail("no node is left to run on; fix the nodes and `baton grid --resume \(dir)`", ExitCodes.jobFailed)
        }
    }
}

fileprivate func say(_ text: String, terminator: String) {
    print(text, terminator: terminator)
    fflush(nil)
}

struct GridPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show the configs a spec expands to, in the order they are queued.")

    @Argument(help: "The grid spec (YAML).") var spec: String
    @Flag(help: "JSON: a list of {position, id, params, argv}.") var json = false

    func run() throws {
        let s: GridSpec
        let configs: [GridConfig]
        do {
            s = try GridSpec.load(path: spec)
            configs = try GridExpansion.expand(s)
        } catch let e as GridSpecError {
            throw fail("\(e)", ExitCodes.badInput)
        }
        if json {
            let list: [[String: Any]] = configs.map { c in
                var p: [String: Any] = [:]
                for (k, v) in c.params { p[k] = v.jsonObject }
                return ["position": c.position + 1, "id": c.id, "params": p, "argv": c.argv]
            }
            let data = try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
            say(String(decoding: data, as: UTF8.self))
            return
        }
        let axes = s.parameters.map { p -> String in
            let zipped = s.zip.first { $0.contains(p.name) }
            return "\(p.name) (\(p.values.count))" + (zipped.map { " zipped with \($0.filter { $0 != p.name }.joined(separator: ","))" } ?? "")
        }
        say("\(configs.count) configs: product of \(axes.joined(separator: " x ")), last varies fastest"
            + (s.exclude.isEmpty ? "" : ", \(s.exclude.count) exclude rules"))
        say("each on \(s.nodesPerConfig) node(s) x \(s.ranksPerNode) rank(s); max_retries \(s.maxRetries)"
            + (s.timeout.map { "; timeout \(formatDuration($0))" } ?? "")
            + (s.objective.map { "; objective \($0.mode.rawValue) \($0.metric)" } ?? ""))
        var rows = [["#", "id"] + s.parameters.map(\.name) + ["command"]]
        for c in configs {
            rows.append([String(c.position + 1), c.id] + c.params.map { $0.1.description } + [c.argv.joined(separator: " ")])
        }
        say(GridReport.columns(rows), terminator: "")
    }
}

struct GridStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Configs pending/running/done/failed, nodes, recent events.")

    @Argument(help: "The run directory.") var runDir: String
    @Flag(help: "Refresh every second until the run ends (Ctrl-C to leave).") var watch = false
    @Flag(help: "JSON: counts, nodes (state, config, attempt, session), recent events.") var json = false

    func run() throws {
        while true {
            let store: GridStore
            do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw fail("\(error)", ExitCodes.badInput) }
            let snap = try store.snapshot(events: 10)
            let head = GridHead.alivePID(snap.meta)
            if json {
                say(GridReport.statusJSON(snap, runDir: runDir, headPID: head, now: Date().timeIntervalSince1970))
                return
            }
            let text = GridReport.status(snap, runDir: runDir, headPID: head, now: Date().timeIntervalSince1970)
            if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            say(text, terminator: "")
            if !watch || head == nil { return }
            usleep(1_000_000)
        }
    }
}

struct GridResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "Every config's outcome, sorted by the objective, best first.")

    @Argument(help: "The run directory.") var runDir: String
    @Flag(help: "JSON: id, params, status, attempts, nodes, resumed, handed_off, metrics.") var json = false
    @Flag(help: "CSV with a column per parameter and metric.") var csv = false

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw fail("\(error)", ExitCodes.badInput) }
        let snap = try store.snapshot(events: 0)
        let rows = GridReport.results(snap)
        if json { say(GridReport.json(rows)); return }
        if csv { say(GridReport.csv(rows), terminator: ""); return }
        say(GridReport.table(rows, objective: GridReport.objective(snap.meta)), terminator: "")
        for r in rows where r.status == .failed {
            say("\nfailed \(r.id) (\(r.params.map { "\($0.0)=\($0.1)" }.joined(separator: " "))), last output:")
            say((r.lastOutput ?? "").split(separator: "\n").map { "  | \($0)" }.joined(separator: "\n"))
        }
    }
}

struct GridStopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a run: running attempts are stopped and resume on `--resume`.")

    @Argument(help: "The run directory.") var runDir: String

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir) } catch { throw fail("\(error)", ExitCodes.badInput) }
        let meta = try store.meta()
        if let pid = GridHead.alivePID(meta) {
            _ = FileManager.default.createFile(atPath: (runDir as NSString).appendingPathComponent(GridHead.stopFile), contents: nil)
            let stopped = Teardown.Target.processes { GridHead.alivePID(meta).map { [$0] } ?? [] }.waitUntilGone(atMost: 60)
            if !stopped { throw fail("the head (pid \(pid)) did not stop within 60 s", ExitCodes.jobFailed) }
            say("stopped the head (pid \(pid)); continue with: baton grid --resume \(runDir)")
            return
        }
        // No head: stop whatever attempts a killed head left running.
        let settings = try GridRun.Settings(meta: meta)
        let absDir = absolutePath(runDir)
        let executor = try GridHead.executor(settings: settings, runDir: absDir)
        var ops: [GridStoreOp] = []
        var stopped = 0
        for c in try store.snapshot(events: 0).configs {
            for a in c.attemptRecords where a.status == "running" {
                _ = executor.reapOrphan(attemptID: a.id, configID: c.id, attempt: a.number, pid: a.pid, session: a.session)
                ops.append(.endAttempt(id: a.id, endedAt: executor.now(), status: "stopped", exitCode: nil, reason: "baton grid stop (no head)"))
                ops.append(.config(id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil, objective: nil, lastOutput: nil, finishedAt: nil))
                stopped += 1
            }
        }
        try store.commit(ops)
        say("no head was running; stopped \(stopped) orphaned attempt(s); continue with: baton grid --resume \(runDir)")
    }
}

struct GridKillNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill-node",
        abstract: "Fault injection: kill (or hang) every process of a node's running attempt, where this machine can reach it (--local nodes, the namespace test bed).")

    @Argument(help: "The run directory.") var runDir: String
    @Argument(help: "The node, e.g. local-1.") var node: String
    @Option(help: "KILL (crash) or STOP (hang).") var signal: String = "KILL"
    @Option(name: .customLong("down-for"), help: "The node fails its health checks for this long.") var downFor: String = "60s"

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw fail("\(error)", ExitCodes.badInput) }
        let snap = try store.snapshot(events: 0)
        guard snap.nodes.contains(where: { $0.name == node }) else {
            throw fail("no node \(node) in this run (nodes: \(snap.nodes.map(\.name).joined(separator: ", ")))", ExitCodes.badInput)
        }
        guard let down = parseDuration(downFor) else { throw fail("--down-for \(downFor) is not a duration", ExitCodes.badInput) }
        let sig: Int32 = signal.uppercased().hasSuffix("STOP") ? SIGSTOP : SIGKILL
        let local = (snap.meta["executor"] ?? "local") == "local"
        let absDir = absolutePath(runDir)
        say(try GridHead.killNode(runDir: absDir, node: node, signal: sig, downFor: down, local: local))
    }
}

struct GridSimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the scheduler on simulated nodes with a durable run store and report its speed and memory.")

    @Option(help: "Configs in the grid.") var configs = 10_000
    @Option(help: "Simulated nodes.") var nodes = 1_000
    @Option(name: .customLong("node-failures"), help: "Fraction of nodes that fail at random times.") var nodeFailures = 0.05
    @Option(name: .customLong("config-failures"), help: "Fraction of attempts whose command fails.") var configFailures = 0.01
    @Option(help: "Simulated seconds per wall second (higher saturates the scheduler).") var speed = 1000.0
    @Option(name: .customLong("run-dir"), help: "Where the store goes (default: a temporary directory, removed after).") var runDir: String?
    @Flag(name: .customLong("no-fsync"), help: "synchronous=NORMAL: commits survive a killed head, not a power loss.") var noFsync = false
    @Option(help: "Random seed.") var seed: UInt64 = 42

    func run() throws {
        var s = GridSimulation.Settings()
        s.configs = configs
        s.nodes = nodes
        s.nodeFailureRate = nodeFailures
        s.configFailureRate = configFailures
        s.speed = speed
        s.durable = !noFsync
        s.seed = seed
        let dir = runDir ?? NSTemporaryDirectory() + "baton-grid-sim-\(getpid())"
        defer { if runDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
        say("simulating \(configs) configs on \(nodes) nodes, \(Int(nodeFailures * 100))% of nodes failing, store \(dir) (\(noFsync ? "synchronous=NORMAL" : "synchronous=FULL, fsync per commit"))")
        let report = try GridSimulation.run(s, runDir: dir)
        say(report.text)
        if !report.exactlyOnce { throw ExitCode(ExitCodes.checkFailed) }
    }
}
