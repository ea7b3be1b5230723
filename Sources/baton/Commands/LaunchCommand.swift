import ArgumentParser
import BatonCore
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
            Run state: RUN/events.jsonl, RUN/report.json, RUN/logs/<node>.<rank>.log, RUN/attempts/.
            MASTER_ADDR is the first node (a loopback address of its own for --local nodes), MASTER_PORT a
            free port per attempt unless --master-port pins it.
            --detach: the head runs in a session of its own (it outlives the terminal), its output in
            RUN/head.log, its pid in RUN/head.pid; stop it with kill -TERM $(cat RUN/head.pid).
            --resume RUN: take over a run whose head was stopped or killed. The command line comes from
            RUN/launch.json; the next attempt waits for the old one's processes to be gone, starts on the
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

    func fail(_ message: String, code: Int32 = ExitCodes.badInput) -> ExitCode {
        FileHandle.standardError.write(Data("baton launch: \(message)\n".utf8))
        return ExitCode(code)
    }

    func run() throws {
        if let resume { return try resumeRun(resume) }
        try start(resuming: nil)
    }

    /// `--resume RUN`: the stored command line, with this command's hosts and --detach.
    func resumeRun(_ dir: String) throws {
        guard command.isEmpty else { throw fail("--resume takes its command from RUN/launch.json; give none after --") }
        let run = absolutePath(dir)
        guard let settings = LaunchRunFiles.settings(run) else {
            throw fail("\(run) has no \(LaunchRunFiles.settingsFile): not a launch run directory (or one made before --resume existed)")
        }
        if let pid = DetachedHead.launchHead(runDir: run) {
            throw fail("a head (pid \(pid)) is still running \(run); stop it with kill -TERM \(pid) first")
        }
        let point: LaunchResumePoint
        do { point = try LaunchResumePoint.read(runDir: run) } catch { throw fail(error.description, code: ExitCodes.code(for: error)) }
        if point.completed {
            print("baton launch: \(run) already completed (attempt \(point.lastAttempt)); nothing to resume")
            return
        }
        var stored: LaunchCommand
        do { stored = try LaunchCommand.parse(settings.arguments) } catch {
            throw fail("\(LaunchRunFiles.settingsPath(run)): its arguments no longer parse: \(LaunchCommand.message(for: error))")
        }
        stored.runDir = run
        stored.detach = detach
        if hostfile != nil || hosts != nil || local != nil {
            stored.hostfile = hostfile.map { absolutePath($0) }
            stored.hosts = hosts
            stored.local = local
        }
        // Relative paths of the stored command line are relative to where it was given (a
        // detached head gets there itself: it runs this again without --detach).
        guard detach || FileManager.default.changeCurrentDirectoryPath(settings.directory) else {
            throw fail("cannot enter \(settings.directory), where the run was started (its relative paths are relative to it)")
        }
        try stored.start(resuming: (point, hostsGiven: hostfile != nil || hosts != nil || local != nil))
    }

    func start(resuming: (point: LaunchResumePoint, hostsGiven: Bool)?) throws {
        guard !command.isEmpty else { throw fail("give the command after --, e.g. baton launch --local 2 -- python train.py") }
        let source: HostSource
        do {
            source = try HostSource.resolve(hostfile: hostfile, hosts: hosts, local: local, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw fail(error.description)
        }
        var list = source.hosts
        if let (point, given) = resuming, !given {
            // The last attempt's nodes, unless a new allocation is where this head runs.
            if case .slurm = source.kind {} else { list = point.hosts }
            guard !list.hosts.isEmpty else { throw fail("the last attempt lost every node; give hosts: --resume RUN --hostfile F") }
        }
        if let n = nprocPerNode {
            guard n >= 1 else { throw fail("--nproc-per-node must be at least 1") }
            list = list.withSlots(n)
        }
        if case .slurm = source.kind, !dryRun {
            FileHandle.standardError.write(Data("baton launch: hosts from \(source.description): \(list.hosts.map(\.spec).joined(separator: ","))\n".utf8))
        }
        func seconds(_ text: String, _ name: String) throws -> Double {
            guard let v = parseDuration(text), v > 0 else { throw fail("--\(name): '\(text)' is not a positive duration (e.g. 10s, 500ms)") }
            return v
        }
        let timeout = try seconds(heartbeatTimeout, "heartbeat-timeout")
        let beat = try seconds(heartbeat, "heartbeat")
        let leaseSeconds = try lease.map { try seconds($0, "lease") } ?? timeout
        let graceSeconds = try seconds(grace, "grace")
        guard minNodes >= 1, maxRestarts >= 0 else { throw fail("--min-nodes must be >= 1 and --max-restarts >= 0") }
        if let p = masterPort, !(1...65535).contains(p) { throw fail("--master-port must be 1...65535, got \(p)") }
        let snapshots: SnapshotSchedule.Settings?
        do { snapshots = try SnapshotSchedule.Settings.parse(every: snapshotEvery, keep: keepSnapshots, to: snapshotTo) } catch {
            throw fail("\(error)")
        }
        var shown: Set<Int>?
        if let ranks {
            var s = Set<Int>()
            for (i, part) in ranks.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                guard let r = Int(part), r >= 0, r < list.totalSlots else {
                    throw fail("--ranks: entry \(i + 1) '\(part)' is not a rank of this job (0...\(list.totalSlots - 1))")
                }
                s.insert(r)
            }
            shown = s
        }

        let run = absolutePath(runDir)
        let batonPath = baton ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var mode = LaunchMode.cluster
        if source.isLocal {
            if dryRun {
                mode = .local(agentPath: "\(run)/local/rsh-agent")
            } else {
                do { mode = .local(agentPath: try LocalNodes.installAgent(dir: "\(run)/local")) } catch { throw fail("\(error)") }
            }
        }
        var planner = LaunchPlanner(mode: mode, command: command, runDir: run, batonPath: batonPath, mpirunPath: mpirun,
                                    heartbeat: beat, lease: leaseSeconds, grace: graceSeconds, masterPort: masterPort)
        planner.configID = "launch"
        if !source.isLocal { planner.slurm = SlurmAllocation.current(environment: ProcessInfo.processInfo.environment) }
        // The lean wrapper beside baton starts in a third of the time of `baton exec` (docs/launch.md).
        planner.execPath = LaunchPlanner.leanWrapper(beside: batonPath)
        var options = LaunchOptions(hosts: list, planner: planner)
        options.maxRestarts = maxRestarts
        options.minNodes = minNodes
        options.onRankFailure = onRankFailure
        options.heartbeatTimeout = timeout
        options.startupTimeout = try seconds(startupTimeout, "startup-timeout")
        options.shownRanks = shown
        if let (point, _) = resuming {
            options.firstAttempt = point.lastAttempt + 1
            options.initialConsumed = point.consumed
            options.priorAttempts = point.records
        }
        if let n = shardSamples {
            guard n >= 0 else { throw fail("--shard-samples must be >= 0") }
            options.shardWriter = ShardHook.writer(samples: n, shuffle: shardShuffle, seed: shardSeed, epoch: shardEpoch)
        }

        if dryRun {
            let plan = planner.plan(hosts: list, attempt: 1, shardDir: shardSamples != nil ? "\(run)/shards/attempt-1" : nil,
                                    port: masterPort ?? 29500)
            print(plan.json())
            return
        }

        guard ChildProcess.resolve(mpirun) != nil else {
            FileHandle.standardError.write(Data("baton launch: '\(mpirun)' not found on PATH (install openmpi-bin, or pass --mpirun)\n".utf8))
            throw ExitCode(ExitCodes.unavailable)
        }

        do { try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true) } catch { throw fail("\(error)") }
        if let pid = DetachedHead.launchHead(runDir: run) {
            throw fail("a head (pid \(pid)) is still running \(run); stop it with kill -TERM \(pid), or use another --run-dir")
        }
        if detach {
            // The same command line without --detach (only among baton's own options, before `--`).
            let argv = Array(CommandLine.arguments.dropFirst())
            let end = argv.firstIndex(of: "--") ?? argv.endIndex
            let args = argv[..<end].filter { $0 != "--detach" } + argv[end...]
            let log = "\(run)/\(DetachedHead.logFile)"
            let pid: pid_t
            do { pid = try DetachedHead.detach(arguments: Array(args), log: log) } catch { throw fail("\(error)", code: ExitCodes.jobFailed) }
            do {
                try String(pid).write(toFile: "\(run)/\(DetachedHead.pidFile)", atomically: true, encoding: .utf8)
            } catch { throw fail("\(error)", code: ExitCodes.jobFailed) }
            print("baton launch: running detached, head pid \(pid)")
            print("  run dir: \(run)")
            print("  watch:   tail -f \(log)   (rank logs: \(run)/logs/, state: \(run)/events.jsonl)")
            print("  result:  \(run)/report.json once it ends")
            print("  stop:    kill -TERM \(pid)")
            return
        }
        do {
            try DetachedHead.recordLaunchHead(runDir: run)
            try LaunchRunFiles.recordSettings(.init(arguments: Self.storedArguments(), directory: FileManager.default.currentDirectoryPath,
                                                    created: Date().timeIntervalSince1970), runDir: run)
        } catch { throw fail("\(error)") }
        if resuming != nil {
            let left = LaunchResumePoint.waitForOldAttempts(runDir: run, within: leaseSeconds + graceSeconds + 5, lease: leaseSeconds,
                                                            remote: !source.isLocal)
            if !left.isEmpty { throw fail("the old attempt is still running: \(left.joined(separator: ", "))", code: ExitCodes.jobFailed) }
        }

        // Ctrl-C and SIGTERM come to one thread here, which asks the supervisor to stop.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        let supervisor: LaunchSupervisor
        do {
            supervisor = try LaunchSupervisor(options: options, executor: MpirunExecutor(), console: TerminalConsole())
        } catch {
            throw fail(error.description, code: ExitCodes.code(for: error))
        }
        let signals = set
        startThread("baton-launch-signals") {
            var s = signals
            while true {
                var sig: Int32 = 0
                if sigwait(&s, &sig) == 0 { supervisor.interrupt() }
            }
        }
        let schedule = snapshots.map { SnapshotSchedule(runDir: run, settings: $0) { _ = writeAll(fd: 2, "baton launch: \($0)\n") } }
        schedule?.start()
        let report = supervisor.run()
        schedule?.finish()
        TerminalConsole().clearStatus()
        FileHandle.standardError.write(Data((report.summary + "\n").utf8))
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

extension LaunchCommand {
    /// This process's `baton launch` arguments without `--detach` (among baton's own
    /// options, before `--`): what `--resume` runs again.
    static func storedArguments() -> [String] {
        let argv = CommandLine.arguments
        guard let at = argv.firstIndex(of: "launch") else { return Array(argv.dropFirst()) }
        let rest = Array(argv[(at + 1)...])
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        return rest[..<end].filter { $0 != "--detach" } + rest[end...]
    }
}

/// Prints rank lines as `node:rank text`, messages on stderr, and a status line redrawn in
/// place when stderr is a terminal.
struct TerminalConsole: LaunchConsole {
    static let statusShown = Locked(false)
    let tty = isatty(2) == 1

    func clearStatus() {
        TerminalConsole.statusShown.with { shown in
            if shown { writeAll(fd: 2, "\r\u{1B}[K"); shown = false }
        }
    }

    func rankLine(node: String, rank: Int, text: String, isError: Bool) {
        clearStatus()
        writeAll(fd: isError ? 2 : 1, "\(node):\(rank) \(text)\n")
    }

    func message(_ text: String) {
        clearStatus()
        writeAll(fd: 2, text + "\n")
    }

    func status(_ text: String) {
        guard tty else { return }
        TerminalConsole.statusShown.with { shown in
            writeAll(fd: 2, "\r\u{1B}[K" + text)
            shown = true
        }
    }
}

/// `baton launch report RUN [--json]`: the report of a launch run, read from its store
/// (what the head wrote to RUN/report.json at its end, which is a view of the same).
struct LaunchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The report of a launch run from its store (RUN/launch.sqlite): how it ended, every attempt.",
        discussion: """
            --json prints it as RUN/report.json has it (the head writes that file from the store). A run
            made before the store (no RUN/launch.sqlite) is read from its report.json. Exit 2 when RUN is
            not a launch run or has no report yet (its head runs, or was lost: see `baton status RUN`).
            """)

    @Argument(help: "The launch run directory.") var runDir: String
    @Flag(help: "JSON, as RUN/report.json.") var json = false

    func run() throws {
        let dir = absolutePath(runDir)
        func fail(_ text: String) -> ExitCode {
            FileHandle.standardError.write(Data("baton launch report: \(text)\n".utf8))
            return ExitCode(ExitCodes.badInput)
        }
        let report: LaunchReport?
        if LaunchStore.exists(runDir: dir) {
            do { report = try LaunchStore(runDir: dir, readOnly: true).report() } catch {
                throw fail("\(LaunchStore.path(dir)): \(error)")
            }
        } else if FileManager.default.fileExists(atPath: "\(dir)/report.json") {
            report = LaunchRunFiles.report(dir)
        } else {
            throw fail("\(dir) is not a launch run directory (no \(LaunchStore.fileName) or report.json)")
        }
        guard let report else { throw fail("\(dir) has no report yet: its head has not ended it (baton status \(dir))") }
        if json {
            print(String(decoding: LaunchRunFiles.reportJSON(report), as: UTF8.self))
        } else {
            print(report.summary)
        }
    }
}
